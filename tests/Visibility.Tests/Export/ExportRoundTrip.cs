using Visibility.Query.Export;

namespace Visibility.Tests.Export;

/// <summary>
/// The records each export format's round trip writes and reads back (<see cref="ExportSamples"/>): hostile and
/// ordinary findings, blocked-attempts findings (plain and hostile), hostile and ordinary summaries, and 300 random
/// records of each kind per seed. A format's tests say how a record reads back field by field.
/// </summary>
public abstract class ExportRoundTrip
{
    [Fact]
    public void Findings_HostileOrdinaryAndBlockedAttempts_ParseBackFieldByField()
    {
        CheckFinding(ExportSamples.HostileFinding());
        CheckFinding(ExportSamples.OrdinaryFinding());
        CheckFinding(ExportSamples.BlockedAttemptsFinding());
        CheckFinding(ExportSamples.HostileBlockedAttemptsFinding());
    }

    [Fact]
    public void Summaries_HostileAndOrdinary_ParseBackFieldByField()
    {
        CheckSummary(ExportSamples.HostileSummary());
        CheckSummary(ExportSamples.OrdinarySummary());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomRecords_ParseBackFieldByField(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 300; i++)
        {
            CheckFinding(ExportSamples.RandomFinding(random));
            CheckSummary(ExportSamples.RandomSummary(random));
        }
    }

    /// <summary>Writes <paramref name="record"/> and asserts it reads back as the values written.</summary>
    protected abstract void CheckFinding(FindingEvent record);

    /// <summary>Writes <paramref name="record"/> and asserts it reads back as the values written.</summary>
    protected abstract void CheckSummary(FlowSummary record);
}
