using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;

namespace Visibility.Tests.Support;

/// <summary>Decodes one text record the way the tests need it: the status, the record and the reason.</summary>
public static class DecoderRun
{
    public static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(IFlowDecoder decoder, string text)
    {
        var record = default(FlowRecord);
        var status = decoder.Decode(Encoding.UTF8.GetBytes(text), ref record, out var reason);
        return (status, record, reason);
    }

    /// <summary>Decodes a record that must decode; fails the test with the reason otherwise.</summary>
    public static FlowRecord DecodeOk(IFlowDecoder decoder, string text)
    {
        var (status, record, reason) = Decode(decoder, text);
        Assert.True(status == DecodeStatus.Ok, $"{status}: {reason}");
        return record;
    }
}
