using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Found by DecoderPropertyTests (2026-11-27, seed eips5oA4kN-e): a JSON string holding an escape and then bytes
/// that are not UTF-8 made the reader throw while unescaping. Every JSON decoder returns Invalid instead.
/// </summary>
public sealed class EscapedInvalidTextTests
{
    public static TheoryData<string, byte[]> Cases => new()
    {
        { "canonical-json", [.. "{\"version\":1,\"id\":\"agent-7/c\\n"u8, 0xC0, 0xAF, .. "n/000001\",\"event\":\"new\",\"start\":\"2026-11-26T21:40:00.125Z\",\"proto\":\"tcp\",\"src\":{\"ip\":\"10.20.1.5\",\"port\":51514},\"dst\":{\"ip\":\"10.20.2.8\",\"port\":5432}}"u8] },
        { "canonical-json", [.. "{\"version\":1,\"id\":\"a\\t"u8, 0xF4, .. "\",\"start\":\"2026-11-26T21:40:00Z\",\"proto\":\"tcp\",\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}}"u8] },
        { "auto", [.. "{\"version\":1,\"id\":\"agent-7/c\\n"u8, 0xC0, 0xAF, .. "n/1\",\"start\":\"2026-11-26T21:40:00Z\",\"proto\":\"tcp\",\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}}"u8] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_EscapedStringWithInvalidUtf8_IsInvalidWithAReason(string format, byte[] json)
    {
        var decoder = DecoderRegistry.Create(format, new DecoderSettings());
        var record = default(FlowRecord);
        var status = decoder.Decode(json, ref record, out var reason);
        Assert.NotEqual(DecodeStatus.Ok, status);
        Assert.False(string.IsNullOrEmpty(reason));
    }
}
