using System.Security.Cryptography;
using System.Text;

namespace Visibility.Flows.Store;

/// <summary>
/// The identity of one flow insert, sent as <c>insert_deduplication_token</c>: a retry of the same rows carries the
/// same token, and every table the insert writes (the raw flows and, through the views, each rollup) keeps the blocks
/// it already has and adds the ones it missed (<see cref="FlowSchema.DeduplicationWindow"/>). The ingest writer derives
/// it from the Kafka records the rows came from (<see cref="Of"/>); other inserts get a <see cref="Unique"/> one.
/// </summary>
public readonly record struct InsertToken
{
    private InsertToken(string value)
    {
        Value = value;
    }

    /// <summary>Hex digits only: safe inside the statement's quotes.</summary>
    public string Value { get; }

    /// <summary>The token of the rows <paramref name="origin"/> describes (for ingest: each batch's topic, partition, offset range and row count).</summary>
    public static InsertToken Of(string origin) =>
        new(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(origin)), 0, 20));

    /// <summary>A token no other insert has: nothing is dropped as a repeat.</summary>
    public static InsertToken Unique() => new(Guid.NewGuid().ToString("N"));

    /// <summary>The insert settings that make a retry land once: <c>SETTINGS insert_deduplication_token = '…', …</c>.</summary>
    public string Settings => $"SETTINGS insert_deduplication_token = '{Value}', {ViewsSetting} = 1";

    /// <summary>
    /// Only the token: for a store whose connection sets <see cref="ViewsSetting"/> (the server store does, unless its
    /// connection string says otherwise).
    /// </summary>
    public string TokenSetting => $"SETTINGS insert_deduplication_token = '{Value}'";

    /// <summary>The setting that makes the views' target tables drop the blocks of a retried insert too.</summary>
    public const string ViewsSetting = "deduplicate_blocks_in_dependent_materialized_views";

    public override string ToString() => Value;
}
