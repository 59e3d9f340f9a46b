using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Filtering;
using Visibility.Tests.Support;

namespace Visibility.Tests.Query;

[CollectionDefinition(Name)]
public sealed class FilterTableDefinition : ICollectionFixture<FilterTable>
{
    public const string Name = "FilterTable";
}

/// <summary>
/// A table with the flow columns the filter reads and a couple of hundred varied rows (IPv4-mapped and IPv6
/// addresses, peers without a workload, free-form labels, hostile strings), in a database of its own on the
/// shared chDB engine; filters run against it through <see cref="IFlowReader.QueryAsync{T}"/>.
/// </summary>
public sealed class FilterTable : IAsyncLifetime
{
    public const string Table = "filter_rows";

    private IFlowStore? store;

    public IReadOnlyList<FilterFlowRow> Rows { get; } = FilterData.Rows(200, seed: 7);

    public IFlowStore Store => store ?? throw new InvalidOperationException("Not initialized.");

    public async Task InitializeAsync()
    {
        store = await TestStore.CreateAsync();
        var connection = ChdbEngine.Open(TestStore.DataPath).Connect();
        var table = $"{FlowSchema.QuoteDatabase(store.Database)}.{Table}";
        var end = static (string side) => $"""
            {side}_workload LowCardinality(String), {side}_kind LowCardinality(String), {side}_role LowCardinality(String),
            {side}_app LowCardinality(String), {side}_env LowCardinality(String), {side}_loc LowCardinality(String),
            {side}_labels Map(LowCardinality(String), String), {side}_ip IPv6, {side}_port UInt16
            """;
        await connection.ExecuteAsync($"CREATE TABLE {table} (id UInt32, {end("src")}, {end("dst")}, proto UInt8, findings UInt8, verdict {FlowColumnTable.VerdictType}, policies {FlowColumnTable.PoliciesType}) ENGINE = MergeTree ORDER BY id");
        await connection.InsertAsync($"INSERT INTO {table}", "JSONEachRow", Encode(Rows));
    }

    public async Task DisposeAsync()
    {
        if (store is not null)
        {
            await ChdbEngine.Open(TestStore.DataPath).Connect().ExecuteAsync($"DROP DATABASE IF EXISTS {FlowSchema.QuoteDatabase(store.Database)}");
        }
    }

    /// <summary>The ids of the rows the compiled filter selects in the engine.</summary>
    public Task<List<uint>> SelectAsync(CompiledFilter filter) =>
        Store.QueryAsync(
            $"SELECT id FROM {FlowSchema.QuoteDatabase(Store.Database)}.{Table} WHERE {filter.Sql} ORDER BY id",
            "TabSeparated",
            static output => Encoding.UTF8.GetString(output).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => uint.Parse(s, CultureInfo.InvariantCulture)).ToList(),
            filter.Parameters,
            CancellationToken.None);

    /// <summary>The ids of the rows the reference evaluator selects.</summary>
    public List<uint> Expected(FilterExpression filter) => Rows.Where(r => FilterReference.Matches(filter, r)).Select(r => r.Id).ToList();

    private static ReadOnlyMemory<byte> Encode(IReadOnlyList<FilterFlowRow> rows)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var row in rows)
        {
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteNumber("id", row.Id);
                WriteEnd(json, "src", row.Src);
                WriteEnd(json, "dst", row.Dst);
                json.WriteNumber("proto", row.Proto);
                json.WriteNumber("findings", row.Findings);
                json.WriteString("verdict", row.Verdict);
                json.WriteStartArray("policies");
                foreach (var policy in row.Policies)
                {
                    json.WriteStringValue(policy);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            buffer.Write("\n"u8);
        }

        return buffer.WrittenMemory;
    }

    private static void WriteEnd(Utf8JsonWriter json, string side, FilterFlowEnd end)
    {
        json.WriteString($"{side}_workload", end.Workload);
        json.WriteString($"{side}_kind", end.Kind);
        json.WriteString($"{side}_role", end.Role);
        json.WriteString($"{side}_app", end.App);
        json.WriteString($"{side}_env", end.Env);
        json.WriteString($"{side}_loc", end.Loc);
        json.WriteStartObject($"{side}_labels");
        foreach (var (key, value) in end.Labels)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
        json.WriteString($"{side}_ip", end.Ip.ToString());
        json.WriteNumber($"{side}_port", end.Port);
    }
}

/// <summary>Value pools shared by the test rows and the filter generator, so generated filters hit rows.</summary>
public static class FilterData
{
    public const string Hostile = "'; DROP TABLE x --";

    public static readonly string[] Workloads = ["pay-api", "ledger-db", "web", "a' OR 1=1 --", "UPPER"];
    public static readonly string[] WorkloadKinds = ["host", "vm", "pod", "service", "network"];
    public static readonly string[] PeerKinds = ["unknown", "internet"];
    public static readonly string[] Roles = ["", "frontend", "db"];
    public static readonly string[] Apps = ["", "pay", "ledger", "web", "ünï"];
    public static readonly string[] Envs = ["", "prod", "dev", "staging", "Prod", "a' OR 1=1 --"];
    public static readonly string[] Locs = ["", "eu-1", "us-2"];
    public static readonly string[] LabelKeys = ["team", "tier", "owner", "app.kubernetes.io/name", "x/y"];
    public static readonly string[] LabelValues = ["blue", "red", "", Hostile, "back\\slash", "nul\0byte", "quote\"d", "ünï ✓", "tab\there", "line\nfeed", "{f0:String}"];

    public static readonly string[] Addresses =
    [
        "10.0.0.1", "10.1.2.3", "10.255.255.255", "11.0.0.0", "9.255.255.255", "192.168.1.10", "172.16.5.4", "203.0.113.7",
        "0.0.0.0", "255.255.255.255", "128.0.0.1", "2001:db8::1", "2001:db8::ffff", "2001:db8:1::1", "fe80::1", "::1", "::",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::1", "7fff:ffff::1", "::fffe:a00:1", "::1:0:0:1",
    ];

    public static readonly string[] Networks =
    [
        "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "0.0.0.0/0", "192.168.0.0/16", "128.0.0.0/1", "11.0.0.0/8", "10.255.255.254/31",
        "2001:db8::/32", "2001:db8::/64", "::/0", "8000::/1", "::ffff:0:0/96", "::ffff:10.0.0.0/104", "fe80::/10", "::/127",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127",
    ];

    public static readonly ushort[] Ports = [0, 1, 22, 80, 443, 1023, 1024, 5432, 8080, 32767, 32768, 65535];
    public static readonly byte[] Protos = [6, 17, 1, 58, 132, 0, 47, 255];
    public static readonly string[] Verdicts = ["allowed", "blocked"];

    /// <summary>Policy names as the decoders keep them: 1-253 bytes without commas (never empty).</summary>
    public static readonly string[] Policies = ["shop/deny-dev-to-prod", "prod/deny-all", "vis:prod:3", "default/allow-dns", "Prod/Deny-All", "ünï ✓", Hostile];

    public static List<FilterFlowRow> Rows(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<FilterFlowRow>(count);
        for (var i = 0; i < count; i++)
        {
            var verdict = random.Next(3) == 0 ? "blocked" : "allowed";
            string[] policies = [.. Enumerable.Range(0, random.Next(3)).Select(_ => Pick(random, Policies)).Distinct()];
            rows.Add(new FilterFlowRow((uint)i + 1, End(random), End(random), Pick(random, Protos), (byte)random.Next(16), verdict, policies));
        }

        return rows;
    }

    public static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static FilterFlowEnd End(Random random)
    {
        var hasWorkload = random.Next(4) != 0;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in LabelKeys)
        {
            if (hasWorkload && random.Next(2) == 0)
            {
                labels[key] = Pick(random, LabelValues);
            }
        }

        var ip = random.Next(5) == 0 ? RandomAddress(random) : IPAddress.Parse(Pick(random, Addresses));
        return new FilterFlowEnd(
            hasWorkload ? Pick(random, Workloads) : "",
            hasWorkload ? Pick(random, WorkloadKinds) : Pick(random, PeerKinds),
            hasWorkload ? Pick(random, Roles) : "",
            hasWorkload ? Pick(random, Apps) : "",
            hasWorkload ? Pick(random, Envs) : "",
            hasWorkload ? Pick(random, Locs) : "",
            labels,
            ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ip.MapToIPv6() : ip,
            random.Next(4) == 0 ? (ushort)random.Next(65536) : Pick(random, Ports));
    }

    private static IPAddress RandomAddress(Random random)
    {
        if (random.Next(2) == 0)
        {
            return new IPAddress((uint)random.Next() * 2u + (uint)random.Next(2)).MapToIPv6();
        }

        var bytes = new byte[16];
        random.NextBytes(bytes);
        return new IPAddress(bytes);
    }
}
