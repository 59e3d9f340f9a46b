using Visibility.Web.Commands;

namespace Visibility.Tests.Web;

/// <summary>
/// <c>visibility export</c>'s progress line. A findings export writes each finding once, so a few records over many
/// seconds: its rate, rounded to whole records, read <c>0/s</c> from start to end.
/// </summary>
public sealed class ExportProgressTests
{
    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.4, "0.40")]
    [InlineData(2.345, "2.35")]
    [InlineData(12.34, "12.3")]
    [InlineData(1234.4, "1,234")]
    public void Rate_ShowsItsFirstDigits(double perSecond, string expected) =>
        Assert.Equal(expected, ExportCommand.Rate(perSecond));

    [Fact]
    public void Line_FewRecordsOverSeconds_ShowsANonZeroRateAndTimeLeft()
    {
        var line = ExportCommand.Line(0.25, new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero), 3, TimeSpan.FromSeconds(7.5));

        Assert.Equal("[#######.......................]  25%  up to 2026-12-07 08:00:00Z  3 records  0.40/s  23 s left", line);
    }

    [Fact]
    public void Line_Finished_SaysDone()
    {
        var line = ExportCommand.Line(1, new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero), 14, TimeSpan.FromSeconds(0.5));

        Assert.EndsWith("14 records  28.0/s  done", line, StringComparison.Ordinal);
    }
}
