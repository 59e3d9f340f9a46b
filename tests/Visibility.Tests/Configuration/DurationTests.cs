using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows;
using Visibility.Ingest;
using Visibility.Ingest.Pipeline;

namespace Visibility.Tests.Configuration;

/// <summary>One duration syntax for configuration, query parameters and the command line.</summary>
public sealed class DurationTests
{
    [Theory]
    [InlineData("100ms", 100)]
    [InlineData("30s", 30_000)]
    [InlineData("15m", 900_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("7d", 604_800_000)]
    [InlineData("2w", 1_209_600_000)]
    [InlineData(" 250ms ", 250)]
    [InlineData("00:00:00.100", 100)]
    [InlineData("30.00:00:00", 2_592_000_000)]
    public void TryParse_BothForms(string text, long milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("", "an empty value is not a duration")]
    [InlineData("10", "'10' has no unit")]
    [InlineData("5y", "'5y' has an unknown unit 'y'")]
    [InlineData("5 minutes", "'5 minutes' has no unit")]
    [InlineData("-5m", "'-5m' is not a duration")]
    [InlineData("1:2:3:4:5", "'1:2:3:4:5' is not a duration")]
    public void TryParse_NotADuration_SaysWhatOneLooksLike(string text, string expected)
    {
        Assert.False(Duration.TryParse(text, out _, out var error));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
        Assert.EndsWith("e.g. 100ms, 15m, 1h, 7d", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(100, "100ms")]
    [InlineData(900_000, "15m")]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(604_800_000, "7d")]
    [InlineData(0, "0s")]
    public void Format_ShortForm_ParsesBack(long milliseconds, string expected)
    {
        var span = TimeSpan.FromMilliseconds(milliseconds);
        Assert.Equal(expected, Duration.Format(span));
        Assert.Equal(span, Duration.Parse(expected));
    }

    [Fact]
    public void Configuration_ShortForm_BindsAndIsRangeChecked()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), Bind("100ms").BatchLinger);
        Assert.Equal(TimeSpan.FromMilliseconds(100), Bind("00:00:00.100").BatchLinger);

        var tooLong = Assert.Throws<OptionsValidationException>(() => Bind("2m"));
        Assert.Contains("BatchLinger", tooLong.Message, StringComparison.Ordinal);

        var typo = Assert.Throws<InvalidOperationException>(() => Bind("100xs"));
        Assert.Contains("Visibility:Ingest:BatchLinger", typo.Message, StringComparison.Ordinal);
        Assert.Contains("'100xs' has an unknown unit 'xs'", typo.InnerException?.Message, StringComparison.Ordinal);
    }

    private static IngestOptions Bind(string linger)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Visibility:Ingest:BatchLinger"] = linger }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddIngest(configuration);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<IngestOptions>>().Value;
    }
}
