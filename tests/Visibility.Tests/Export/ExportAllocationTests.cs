using System.Buffers;
using Visibility.Query.Export;

namespace Visibility.Tests.Export;

/// <summary>
/// An allocation budget per record: the formats write straight into the output, so what a record allocates is a
/// few small temporaries (dictionary enumerators behind the interface, the split service), not its text.
/// </summary>
public sealed class ExportAllocationTests
{
    private const long BudgetPerRecord = 512;

    public static TheoryData<string> Formats => ["cef", "leef", "ocsf", "json"];

    [Theory]
    [MemberData(nameof(Formats))]
    public void Write_OrdinaryRecords_StaysWithinTheBudget(string name)
    {
        var format = ExportFormats.All(ExportIdentity.Default).Single(f => f.Name == name);
        var finding = ExportSamples.OrdinaryFinding();
        var summary = ExportSamples.OrdinarySummary();
        var output = new ArrayBufferWriter<byte>(1 << 20);
        format.Write(output, finding);
        format.Write(output, summary);
        output.ResetWrittenCount();

        const int Records = 200;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Records / 2; i++)
        {
            format.Write(output, finding);
            format.Write(output, summary);
        }

        var perRecord = (GC.GetAllocatedBytesForCurrentThread() - before) / Records;
        Assert.True(perRecord <= BudgetPerRecord, $"{name} allocates {perRecord} B per record (budget {BudgetPerRecord} B)");
    }
}
