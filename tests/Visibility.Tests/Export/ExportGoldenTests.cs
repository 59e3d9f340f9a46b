using System.Text;
using Visibility.Query.Export;
using Visibility.Tests.Support;

namespace Visibility.Tests.Export;

/// <summary>Each format's output for ordinary and hostile records, as reviewable golden files (UPDATE_GOLDEN=1 rewrites them).</summary>
public sealed class ExportGoldenTests
{
    public static TheoryData<string> Formats => ["cef", "leef", "ocsf", "json"];

    private static IExportFormat Format(string name) => ExportFormats.All(ExportIdentity.Default).Single(f => f.Name == name);

    [Theory]
    [MemberData(nameof(Formats))]
    public void Finding_OrdinaryAndHostile_MatchGolden(string name)
    {
        var format = Format(name);
        var text = new StringBuilder();
        text.Append(ExportSamples.Render(format, ExportSamples.OrdinaryFinding())).Append('\n');
        text.Append(ExportSamples.Render(format, ExportSamples.HostileFinding())).Append('\n');
        Golden.VerifyText($"export/{name}-finding.golden", text.ToString());
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Finding_PolicyViolation_MatchesGolden(string name) =>
        Golden.VerifyText($"export/{name}-policy-violation.golden", ExportSamples.Render(Format(name), ExportSamples.PolicyViolationFinding()) + "\n");

    [Theory]
    [MemberData(nameof(Formats))]
    public void Finding_BlockedAttempts_MatchesGolden(string name)
    {
        var format = Format(name);
        var text = new StringBuilder();
        text.Append(ExportSamples.Render(format, ExportSamples.BlockedAttemptsFinding())).Append('\n');
        text.Append(ExportSamples.Render(format, ExportSamples.HostileBlockedAttemptsFinding())).Append('\n');
        Golden.VerifyText($"export/{name}-blocked-attempts.golden", text.ToString());
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void FlowSummary_OrdinaryAndHostile_MatchGolden(string name)
    {
        var format = Format(name);
        var text = new StringBuilder();
        text.Append(ExportSamples.Render(format, ExportSamples.OrdinarySummary())).Append('\n');
        text.Append(ExportSamples.Render(format, ExportSamples.HostileSummary())).Append('\n');
        Golden.VerifyText($"export/{name}-summary.golden", text.ToString());
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void AnyRecord_RandomValues_StaysOneLine(string name)
    {
        var format = Format(name);
        var random = new Random(7);
        for (var i = 0; i < 300; i++)
        {
            var finding = ExportSamples.Render(format, ExportSamples.RandomFinding(random));
            var summary = ExportSamples.Render(format, ExportSamples.RandomSummary(random));
            Assert.DoesNotContain('\n', finding);
            Assert.DoesNotContain('\r', finding);
            Assert.DoesNotContain('\n', summary);
            Assert.DoesNotContain('\r', summary);
        }
    }

    [Fact]
    public void Formats_NamesAreDistinct()
    {
        var names = ExportFormats.All(ExportIdentity.Default).Select(f => f.Name).ToList();
        Assert.Equal(["cef", "leef", "ocsf", "json"], names);
    }
}
