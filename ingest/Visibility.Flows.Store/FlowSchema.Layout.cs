namespace Visibility.Flows.Store;

/// <summary>The schema's DDL for a <see cref="StoreLayout"/>: on a single engine exactly the statements above.</summary>
public static partial class FlowSchema
{
    /// <summary>Every migration, each statement distributed for <paramref name="layout"/>.</summary>
    public static IReadOnlyList<Migration> Migrations(string database, TimeSpan retention, StoreLayout layout) =>
        Migrations(database, StoreRetention.RawOnly(retention), layout);

    /// <summary>Every migration, each statement distributed for <paramref name="layout"/>.</summary>
    public static IReadOnlyList<Migration> Migrations(string database, StoreRetention retention, StoreLayout layout)
    {
        var migrations = Migrations(database, retention);
        return layout.IsCluster
            ? [.. migrations.Select(m => m with { Statements = [.. m.Statements.SelectMany(layout.Distribute)] })]
            : migrations;
    }

    /// <summary>The statements that create the database, the migrations table and the leases table, in order.</summary>
    public static IReadOnlyList<string> BootstrapStatements(string database, StoreLayout layout) =>
        [.. layout.Distribute(Bootstrap(database)), .. layout.Distribute(MigrationsTableDdl(database)), .. layout.Distribute(LeasesTableDdl(database))];
}
