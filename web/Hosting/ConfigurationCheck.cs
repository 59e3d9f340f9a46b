using Visibility.Web.Auth;
using Visibility.Web.Commands;

namespace Visibility.Web.Hosting;

/// <summary>
/// The start-up check every verb that reads configuration runs first: a key under <c>Visibility:</c> that no
/// options type of the program binds stops the start (exit 2) with the key and the nearest known one.
/// </summary>
public static class ConfigurationCheck
{
    /// <summary>
    /// The keys of every options section the program binds, whichever verb runs (one deployment's settings are shared
    /// by its serve and ingest processes): the options registered by the full <c>serve --demo</c> composition, and
    /// every options class of the program's assemblies that declares its section (so a section registered elsewhere
    /// than <see cref="ServeCommand.AddVisibilityServices"/> is known too).
    /// </summary>
    public static ConfigurationKeys KnownKeys(IConfiguration configuration)
    {
        var services = new ServiceCollection().AddVisibilityServices(configuration, new AuthOptions(), ingestOnly: false, demo: true, embeddedBroker: true);
        return ConfigurationKeys.From(ConfigurationKeys.BoundOptions(services).Concat(DeclaredSections()).Distinct());
    }

    /// <summary>Classes of the program's own assemblies with a <c>public const string Section = "Visibility:…"</c>.</summary>
    public static IEnumerable<(string Section, Type Type)> DeclaredSections()
    {
        var program = typeof(ConfigurationCheck).Assembly;
        var assemblies = program.GetReferencedAssemblies()
            .Where(a => a.Name?.StartsWith("Visibility.", StringComparison.Ordinal) == true)
            .Select(System.Reflection.Assembly.Load)
            .Prepend(program);
        return assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t.IsClass && !(t.IsAbstract && t.IsSealed) && !t.IsGenericTypeDefinition)
            .Select(t => (Section: ConfigurationKeys.SectionOf(t), Type: t))
            .Where(d => d.Section?.StartsWith("Visibility:", StringComparison.Ordinal) == true)
            .Select(d => (d.Section!, d.Type));
    }

    /// <summary>Throws a <see cref="SettingsException"/> (exit 2) naming every unknown key under <c>Visibility:</c>.</summary>
    public static void ThrowOnUnknownKeys(IConfiguration configuration)
    {
        var problems = KnownKeys(configuration).Problems(configuration);
        if (problems.Count > 0)
        {
            throw new SettingsException(string.Join("\nvisibility: ", problems));
        }
    }
}
