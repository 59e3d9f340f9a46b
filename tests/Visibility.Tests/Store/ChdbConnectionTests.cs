using System.Buffers;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

public sealed class ChdbConnectionTests
{
    private static ChdbConnection Connect()
    {
        var engine = ChdbEngine.Open(TestStore.DataPath);
        return engine.Connect();
    }

    [Fact]
    public async Task Query_WithBoundParameters_ReturnsValuesUnchanged()
    {
        var connection = Connect();
        var hostile = "x'); DROP DATABASE system; --";
        var text = await connection.QueryTextAsync(
            "SELECT {a:UInt32} + 1, {s:String}",
            parameters: [new QueryParameter("a", "41"), new QueryParameter("s", hostile)]);
        Assert.Equal($"42\t{hostile.Replace("'", "\\'", StringComparison.Ordinal)}\n", text);
    }

    [Theory]
    [InlineData("tab\there")]
    [InlineData("back\\slash\\n and \\t")]
    [InlineData("line\nfeed")]
    [InlineData("quote ' and \" and {braces:String}")]
    public async Task Query_ParameterWithEscapeCharacters_ArrivesAsItself(string value)
    {
        var connection = Connect();
        var text = await connection.QueryTextAsync(
            "SELECT length({s:String}), {s:String} = {t:String}, hex({s:String})",
            parameters: [new QueryParameter("s", value), new QueryParameter("t", value)]);
        var bytes = System.Text.Encoding.UTF8.GetBytes(value);
        Assert.Equal($"{bytes.Length}\t1\t{Convert.ToHexString(bytes)}\n", text);
    }

    [Fact]
    public async Task Query_InvalidSql_ThrowsWithClickHouseErrorText()
    {
        var connection = Connect();
        var error = await Assert.ThrowsAsync<ChdbException>(() => connection.QueryTextAsync("SELECT * FROM no_such_db.no_such_table"));
        Assert.Contains("no_such_db", error.Message, StringComparison.Ordinal);
        Assert.Contains("UNKNOWN_DATABASE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Insert_RowBinaryWithBlankLinesAndZeros_StoresEveryRow()
    {
        var connection = Connect();
        var db = TestStore.NewDatabaseName();
        await connection.ExecuteAsync($"CREATE DATABASE {db}");
        await connection.ExecuteAsync($"CREATE TABLE {db}.t (n UInt64, s String) ENGINE = MergeTree ORDER BY n");
        var buffer = new ArrayBufferWriter<byte>();
        const int rows = 10_000;
        for (var i = 0; i < rows; i++)
        {
            RowBinary.WriteUInt64(buffer, (ulong)i);
            RowBinary.WriteString(buffer, i % 2 == 0 ? "\n\n\0" : "text");
        }

        await connection.InsertAsync($"INSERT INTO {db}.t (n, s)", "RowBinary", buffer.WrittenMemory);

        var result = await connection.QueryTextAsync($"SELECT count(), sum(n), countIf(s = '\\n\\n\\0') FROM {db}.t");
        Assert.Equal($"{rows}\t{(long)rows * (rows - 1) / 2}\t{rows / 2}\n", result);
    }

    [Fact]
    public async Task Insert_MalformedData_ThrowsAndConnectionStaysUsable()
    {
        var connection = Connect();
        var db = TestStore.NewDatabaseName();
        await connection.ExecuteAsync($"CREATE DATABASE {db}");
        await connection.ExecuteAsync($"CREATE TABLE {db}.t (n UInt64) ENGINE = MergeTree ORDER BY n");

        await Assert.ThrowsAsync<ChdbException>(() => connection.InsertAsync($"INSERT INTO {db}.t (n)", "RowBinary", new byte[] { 1, 2, 3 }));

        Assert.Equal("1\n", await connection.QueryTextAsync("SELECT 1"));
        await connection.InsertAsync($"INSERT INTO {db}.t (n)", "JSONEachRow", Encoding.UTF8.GetBytes("{\"n\": 7}\n"));
        Assert.Equal("7\n", await connection.QueryTextAsync($"SELECT sum(n) FROM {db}.t"));
    }

    [Fact]
    public void Open_SecondDirectoryInSameProcess_IsRefusedNamingBoth()
    {
        ChdbEngine.Open(TestStore.DataPath);
        var other = Path.Combine(Path.GetTempPath(), "visibility-other-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<ChdbException>(() => ChdbEngine.Open(other));
        Assert.Contains(other, error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(TestStore.DataPath), error.Message, StringComparison.Ordinal);
    }
}
