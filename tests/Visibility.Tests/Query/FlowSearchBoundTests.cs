using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Flows;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Query;

/// <summary>A bounded download of raw flows: where it stops is known before it starts, and a cursor resumes after it.</summary>
public sealed class FlowSearchBoundTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            new WorkloadSpec { Name = "dev-api", Addresses = ["10.20.2.10"], Labels = new Dictionary<string, string> { ["env"] = "dev" } },
            new WorkloadSpec { Name = "prod-db", Addresses = ["10.10.3.10"], Labels = new Dictionary<string, string> { ["env"] = "prod" } },
        ],
        new LabelSettings());

    private static readonly FindingRules Rules = new(new FindingsOptions());

    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow.AddHours(-1);

    [Fact]
    public async Task CursorAfter_MoreFlowsThanTheBound_ThroughReadsExactlyTheNewestRows_AndAfterReadsTheRest()
    {
        var search = await SearchAsync(10);
        var request = new FlowSearchRequest(Start.AddMinutes(-1), Start.AddHours(1), FilterClause.All, 3, null);
        var everything = (await search.RunAsync(request with { Limit = 100 }, CancellationToken.None)).Flows.Select(f => f.Source).ToList();
        Assert.Equal(10, everything.Count);

        var stop = await search.CursorAfterAsync(request, 4, CancellationToken.None);
        Assert.NotNull(stop);

        // Read in pages of 3 up to the stop, as the CSV download does: the newest 4, then nothing more.
        var bounded = new List<string>();
        var page = request with { Through = stop };
        while (true)
        {
            var result = await search.RunAsync(page, CancellationToken.None);
            bounded.AddRange(result.Flows.Select(f => f.Source));
            if (result.Next is not { } next)
            {
                break;
            }

            page = page with { After = next };
        }

        Assert.Equal(everything.Take(4), bounded);
        var rest = await search.RunAsync(request with { Limit = 100, After = stop }, CancellationToken.None);
        Assert.Equal(everything.Skip(4), rest.Flows.Select(f => f.Source));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(1_000_000)]
    public async Task CursorAfter_AllFlowsFitTheBound_IsNull(int rows)
    {
        var search = await SearchAsync(10);
        var request = new FlowSearchRequest(Start.AddMinutes(-1), Start.AddHours(1), FilterClause.All, 3, null);
        Assert.Null(await search.CursorAfterAsync(request, rows, CancellationToken.None));
    }

    [Fact]
    public async Task CursorAfter_WithAFilter_CountsOnlyMatchingFlows()
    {
        var search = await SearchAsync(10);
        Assert.True(FilterClause.TryCreate("src.env = dev", out var devOnly, out var error), error);

        // Odd ids come from dev: five match, so a bound of five keeps them all and four does not.
        var request = new FlowSearchRequest(Start.AddMinutes(-1), Start.AddHours(1), devOnly, 100, null);
        Assert.Null(await search.CursorAfterAsync(request, 5, CancellationToken.None));
        Assert.NotNull(await search.CursorAfterAsync(request, 4, CancellationToken.None));
    }

    private static async Task<FlowSearch> SearchAsync(int flows)
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        for (var id = 1; id <= flows; id++)
        {
            var (src, dst) = id % 2 == 1 ? ("10.20.2.10", "10.10.3.10") : ("10.10.3.10", "10.20.2.10");
            batch.Add(TestFlows.Connection(Index, Rules, id, src, dst, 5432, Start.AddMinutes(id)));
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        return new FlowSearch(store, Rules);
    }
}
