using System.Diagnostics;
using System.Globalization;
using CsCheck;
using Visibility.Query.Filtering;
using Visibility.Query.Planning;
using Visibility.Query.Security;
using Xunit.Abstractions;

namespace Visibility.Tests.Query;

/// <summary>
/// Hostile input for the filter language and access scopes, with CsCheck (generation from a printed seed, so a
/// failure replays): arbitrary text and token soups never make the parser throw, hang or allocate more than
/// linearly; whatever parses prints back to itself and compiles to placeholder-only SQL; a scope joined to any
/// parsed filter compiles the same way. (The seeded mutation fuzzing in <see cref="FilterFuzzTests"/> also runs the
/// results in chDB.)
/// </summary>
public sealed class FilterPropertyTests(ITestOutputHelper output)
{
    private const int Iterations = 40_000;

    /// <summary>Per input character, plus a fixed part: parsing is linear; anything worse shows up far above this.</summary>
    private const long BytesPerChar = 400;
    private const long FixedBytes = 64 * 1024;

    private static readonly string[] Tokens =
    [
        "src.env", "dst.app", "env", "team", "port", "src.port", "proto", "finding", "ip", "kind", "workload", "x/y",
        "and", "or", "not", "in", "=", "!=", "<", "<=", ">", ">=", "(", ")", ",", "\"", "'", "\\", "prod", "\"a b\"",
        "10.0.0.0/8", "::1", "fe80::/10", "443", "70000", "-1", "tcp", "cross_env", "internet", "*", ";", "é", "\0", "\n", " ",
    ];

    private static readonly Gen<string> AnyText = Gen.String[Gen.Char, 0, 300];

    private static readonly Gen<string> Soup = Gen.OneOf(Tokens).Array[1, 40].Select(parts => string.Join(" ", parts));

    [Fact]
    public void Parse_AnyText_NeverThrows_RoundTrips_AndCompilesToPlaceholders() =>
        Run("text", Gen.Frequency((1, AnyText), (3, Soup)), CheckFilter);

    [Fact]
    public void Parse_DeepNestingAndLongInputs_AreRefusedOrParsed_WithinBudget() =>
        Run("nesting", Gen.Int[1, 5_000].SelectMany(depth => Gen.OneOf("(", "not ", "not (").Select(open => string.Concat(Enumerable.Repeat(open, depth)) + "env = x")), CheckFilter, 2_000);

    [Fact]
    public void Scope_AnyText_NeverThrows_AndRestrictsAnyFilterToPlaceholderSql()
    {
        var pair = Gen.Select(
            Gen.OneOf("env", "app", "team", "x/y", "workload", "kind", "1a", ""),
            Gen.OneOf("prod", "a' OR 1=1 --", "", "=", "\n", "é"),
            (k, v) => k + "=" + v);
        var structured = Gen.Select(pair.Array[1, 5], Gen.Bool, (pairs, semicolons) => string.Join(semicolons ? ";" : ",", pairs));
        var scopeText = Gen.Frequency((1, AnyText), (3, structured));
        Run("scope", Gen.Select(scopeText, Soup, (text, filter) => (text, filter)), (pair, watch) =>
        {
            var (text, filter) = pair;
            if (!AccessScope.TryParse(text, out var scope, out var error))
            {
                Assert.False(string.IsNullOrEmpty(error));
                return;
            }

            Assert.Equal(scope, AccessScope.Parse(scope.Text));
            if (FilterClause.TryCreate(filter, out var clause, out _))
            {
                var restricted = scope.Restrict(clause);
                FilterSql.AssertOnlyPlaceholders(FilterCompiler.Compile(restricted.Expression));
            }
        });
    }

    private static void CheckFilter(string input, Stopwatch _)
    {
        var result = FilterParser.Parse(input);
        if (!result.IsSuccess)
        {
            Assert.Matches(@"^position [0-9]+: \S", result.Error.Message);
            return;
        }

        var printed = result.Filter.ToString();
        var reparsed = FilterParser.Parse(printed);
        Assert.True(reparsed.IsSuccess, $"{input} printed as {printed}: {reparsed.Error?.Message}");
        Assert.Equal(result.Filter, reparsed.Filter);
        if (result.Filter is not MatchAllFilter)
        {
            FilterSql.AssertOnlyPlaceholders(FilterCompiler.Compile(result.Filter));
        }
    }

    private void Run<T>(string kind, Gen<T> gen, Action<T, Stopwatch> check, int iterations = Iterations)
    {
        long cases = 0, mostAllocated = 0;
        var slowest = TimeSpan.Zero;
        var run = Task.Factory.StartNew(
            () => gen.Sample(
                value =>
                {
                    var length = value is string s ? s.Length : value?.ToString()?.Length ?? 0;
                    var before = GC.GetAllocatedBytesForCurrentThread();
                    var watch = Stopwatch.StartNew();
                    check(value, watch);
                    var took = watch.Elapsed;
                    var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    Assert.True(allocated <= (BytesPerChar * length) + FixedBytes || kind == "scope", $"{allocated} B for {length} chars");
                    Assert.True(took < TimeSpan.FromSeconds(1), $"{took} for {length} chars");
                    cases++;
                    mostAllocated = Math.Max(mostAllocated, allocated);
                    slowest = took > slowest ? took : slowest;
                },
                iter: iterations,
                threads: 1),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        Assert.True(run.Wait(TimeSpan.FromMinutes(3)), $"{kind}: no return within 3 minutes (a hang?)");
        Assert.Equal(iterations, cases);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{kind}: {cases} cases; most allocated {mostAllocated} B; slowest {slowest.TotalMilliseconds:F2} ms"));
    }
}
