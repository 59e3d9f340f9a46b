using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Decoding sits on the hot path: once warm, no decoder allocates for a record it decodes. The records are IPv4:
/// <c>IpAddressKey.TryParse</c> goes through <c>IPAddress</c> for IPv6 text, which allocates.
/// </summary>
public sealed class DecoderAllocationTests
{
    public static TheoryData<string, string, int> Records => new()
    {
        { "conntrack-text", "conntrack-text/events-ktimestamp.txt", 9 },
        { "conntrack-xml", "conntrack-xml/events-ktimestamp.xml", 11 },
        { "canonical-json", "canonical-json/flows.jsonl", 1 },
        { "canonical-json", "canonical-json/verdicts.jsonl", 0 },
        { "canonical-json", "canonical-json/verdicts.jsonl", 3 },
        { "aws-vpc", "aws-vpc/default-v2.log", 0 },
        { "hubble-json", "hubble-json/observe.jsonl", 0 },
        { "hubble-json", "hubble-json/observe.jsonl", 8 },
        { "hubble-json", "hubble-json/verdicts.jsonl", 0 },
        { "hubble-json", "hubble-json/verdicts.jsonl", 2 },
        { "hubble-json", "hubble-json/verdicts.jsonl", 5 },
        { "aws-vpc", "aws-vpc/default-v2.log", 3 },
        { "ulogd2-nflog", "ulogd2-nflog-drops.json", 0 },
        { "auto", "ulogd2-nflog-drops.json", 2 },
        { "auto", "conntrack-xml/events-ktimestamp.xml", 11 },
        { "auto", "hubble-json/observe.jsonl", 1 },
        { "auto", "canonical-json/flows.jsonl", 3 },
    };

    [Theory]
    [MemberData(nameof(Records))]
    public void Decode_WarmDecoder_AllocatesNothing(string format, string sample, int line)
    {
        var decoder = DecoderRegistry.Create(format, new DecoderSettings());
        var message = Encoding.UTF8.GetBytes(Golden.SampleLines(sample)[line]);
        var record = default(FlowRecord);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(DecodeStatus.Ok, decoder.Decode(message, ref record, out _));
        }

        // The fewest bytes of five rounds of 1,000 records: a record that allocates does so in every round, while the
        // runtime's own one-off work on this thread (a method tiering up mid-round) shows in one round only.
        var fewest = long.MaxValue;
        for (var round = 0; round < 5 && fewest > 0; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                decoder.Decode(message, ref record, out _);
            }

            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0L, fewest);
    }
}
