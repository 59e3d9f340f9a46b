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

    /// <summary>
    /// Every prefix of <paramref name="text"/> from <paramref name="shortest"/> bytes up to one byte short is Invalid,
    /// with a reason: a cut record is refused, never decoded, skipped or thrown on.
    /// </summary>
    public static void AssertEveryPrefixInvalid(IFlowDecoder decoder, string text, int shortest = 0)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var n = shortest; n < bytes.Length; n++)
        {
            var record = default(FlowRecord);
            var status = decoder.Decode(bytes.AsSpan(0, n), ref record, out var reason);
            Assert.True(status == DecodeStatus.Invalid, $"{decoder.Format}, prefix of {n} of {bytes.Length} bytes: {status}");
            Assert.False(string.IsNullOrEmpty(reason));
        }
    }
}
