using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;

namespace Visibility.Tests.Export;

/// <summary>Which destinations sinks may name: the allow-list for callers who are not admins, the CA folder, ingest's topics.</summary>
public sealed class ExportDestinationsTests : IDisposable
{
    private readonly string parent = Directory.CreateTempSubdirectory("visibility-destinations-").FullName;
    private readonly ExportDestinations destinations;

    public ExportDestinationsTests()
    {
        Directory.CreateDirectory(Path.Combine(parent, "ca"));
        File.WriteAllText(Path.Combine(parent, "ca", "siem.pem"), "-----BEGIN CERTIFICATE-----\n");
        destinations = new ExportDestinations(
            new ExportDirectory(Path.Combine(parent, "export")),
            new ExportDirectory(Path.Combine(parent, "ca"), "the CA folder", readOnly: true),
            ["siem.example:6514", "[::1]:514", "Kafka-1.Example:9093"],
            ["flows", "flows-dlq"]);
    }

    public void Dispose() => Directory.Delete(parent, recursive: true);

    [Theory]
    [InlineData("siem.example", 6514, "tls")]
    [InlineData("SIEM.example", null, "tls")]
    [InlineData("::1", null, "tcp")]
    public void Syslog_AllowedDestination_IsAcceptedForAnyCaller(string host, int? port, string protocol) =>
        Assert.Empty(destinations.Check(new ExportSinkDefinition { Host = host, Port = port, Protocol = protocol }, trusted: false));

    [Theory]
    [InlineData("127.0.0.1", 1)]
    [InlineData("127.0.0.1", 5080)]
    [InlineData("siem.example", 514)]
    [InlineData("10.0.0.1", 22)]
    [InlineData("siem.example.", 6514)]
    public void Syslog_OtherDestination_IsRefusedWithOneAnswer_UnlessTrusted(string host, int port)
    {
        var definition = new ExportSinkDefinition { Host = host, Port = port, Protocol = "tcp" };
        Assert.Equal([ExportDestinations.NotAllowed], destinations.Check(definition, trusted: false));
        Assert.Empty(destinations.Check(definition, trusted: true));
    }

    [Fact]
    public void Kafka_Brokers_OnTheListOrIngestsOwn_AreAccepted_OthersRefused()
    {
        Assert.Empty(destinations.Check(new ExportSinkDefinition { Type = "kafka", Topic = "siem", BootstrapServers = "kafka-1.example:9093" }, trusted: false));
        Assert.Empty(destinations.Check(new ExportSinkDefinition { Type = "kafka", Topic = "siem" }, trusted: false));
        Assert.Equal([ExportDestinations.NotAllowed],
            destinations.Check(new ExportSinkDefinition { Type = "kafka", Topic = "siem", BootstrapServers = "kafka-1.example:9093,127.0.0.1:9092" }, trusted: false));
        Assert.Empty(destinations.Check(new ExportSinkDefinition { Type = "kafka", Topic = "siem", BootstrapServers = "127.0.0.1:9092" }, trusted: true));
    }

    [Theory]
    [InlineData("flows")]
    [InlineData("flows-dlq")]
    public void Kafka_IngestTopics_AreRefusedEvenToAdmins(string topic) =>
        Assert.Contains($"topic '{topic}' is one ingest reads or dead-letters to", destinations.Check(new ExportSinkDefinition { Type = "kafka", Topic = topic }, trusted: true).Single(), StringComparison.Ordinal);

    [Theory]
    [InlineData("/etc/shadow", "leaves the CA folder")]
    [InlineData("/etc/nonexistent", "leaves the CA folder")]
    [InlineData("../export/x.pem", "leaves the CA folder")]
    [InlineData("missing.pem", "is not in the CA folder")]
    public void CaFile_OutsideTheFolderOrMissing_IsRefused_WithoutTellingWhatExistsOutside(string caFile, string expected)
    {
        var problems = destinations.Check(new ExportSinkDefinition { Host = "siem.example", Port = 6514, Protocol = "tls", CaFile = caFile }, trusted: true);
        Assert.Contains(expected, Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void CaFile_InTheFolder_ResolvesToIt_AndWithoutAFolderNoneIsAccepted()
    {
        var definition = new ExportSinkDefinition { Host = "siem.example", Port = 6514, Protocol = "tls", CaFile = "siem.pem" };
        Assert.Empty(destinations.Check(definition, trusted: false));
        Assert.Equal(Path.Combine(parent, "ca", "siem.pem"), destinations.CaFile(definition));
        var none = new ExportDestinations(new ExportDirectory(Path.Combine(parent, "export")), null, [], []);
        Assert.Contains("Visibility:Export:CaDirectory", Assert.Single(none.Check(definition, trusted: true)), StringComparison.Ordinal);
    }

    /// <summary>
    /// A Kubernetes Secret volume: each file is a link into <c>..data</c>, itself a link to a timestamped folder. Such
    /// links are followed while they stay inside the CA folder; one that leads out of it is refused.
    /// </summary>
    [Fact]
    public void CaFile_SecretVolumeLinksInsideTheFolder_AreFollowed_LinksOutOfItRefused()
    {
        var ca = Path.Combine(parent, "ca");
        var stamped = Directory.CreateDirectory(Path.Combine(ca, "..2026_12_07_04_00_00.123")).FullName;
        File.WriteAllText(Path.Combine(stamped, "k8s.pem"), "-----BEGIN CERTIFICATE-----\n");
        Directory.CreateSymbolicLink(Path.Combine(ca, "..data"), "..2026_12_07_04_00_00.123");
        File.CreateSymbolicLink(Path.Combine(ca, "k8s.pem"), "..data/k8s.pem");
        File.WriteAllText(Path.Combine(parent, "outside.pem"), "-----BEGIN CERTIFICATE-----\n");
        File.CreateSymbolicLink(Path.Combine(ca, "escape.pem"), Path.Combine(parent, "outside.pem"));

        var mounted = new ExportSinkDefinition { Host = "siem.example", Port = 6514, Protocol = "tls", CaFile = "k8s.pem" };
        Assert.Empty(destinations.Check(mounted, trusted: false));
        Assert.Equal(Path.Combine(ca, "k8s.pem"), destinations.CaFile(mounted));
        var escape = new ExportSinkDefinition { Host = "siem.example", Port = 6514, Protocol = "tls", CaFile = "escape.pem" };
        Assert.Contains("leaves the CA folder through a link", Assert.Single(destinations.Check(escape, trusted: true)), StringComparison.Ordinal);
    }

    [Fact]
    public void File_PathOutside_IsRefusedForEveryone()
    {
        var definition = new ExportSinkDefinition { Type = "file", Path = "/etc/passwd" };
        Assert.Contains("leaves the export directory", Assert.Single(destinations.Check(definition, trusted: true)), StringComparison.Ordinal);
        Assert.Empty(destinations.Check(new ExportSinkDefinition { Type = "file", Path = "soc/findings.cef" }, trusted: false));
        Assert.Equal(Path.Combine(parent, "export", "soc", "findings.cef"), destinations.FilePath(new ExportSinkDefinition { Type = "file", Path = "soc/findings.cef" }));
    }

    [Theory]
    [InlineData("siem")]
    [InlineData("siem:0")]
    [InlineData("siem:65536")]
    [InlineData(":514")]
    [InlineData("::1:514")]
    [InlineData("a b:514")]
    [InlineData("user@host:514")]
    public void AllowList_EntriesThatAreNotHostAndPort_AreRefused(string entry)
    {
        var error = Assert.Throws<ArgumentException>(() => new ExportDestinations(new ExportDirectory(parent), null, [entry], []));
        Assert.Contains("is not host:port", error.Message, StringComparison.Ordinal);
    }
}
