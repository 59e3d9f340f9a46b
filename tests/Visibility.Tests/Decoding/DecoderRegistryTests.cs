using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

public sealed class DecoderRegistryTests
{
    [Fact]
    public void Formats_ListsEveryFormatWithAutoLast()
    {
        Assert.Equal(["ulogd2-json", "ulogd2-nflog", "conntrack-text", "conntrack-xml", "canonical-json", "aws-vpc", "hubble-json", "auto"], DecoderRegistry.Formats);
    }

    [Fact]
    public void Create_EveryKnownFormat_ReturnsADecoderOfThatFormat()
    {
        foreach (var format in DecoderRegistry.Formats)
        {
            Assert.Equal(format, DecoderRegistry.Create(format, new DecoderSettings()).Format);
        }
    }

    [Fact]
    public void Create_NameInAnotherCase_IsAccepted() =>
        Assert.IsType<HubbleJsonDecoder>(DecoderRegistry.Create(" Hubble-JSON ", new DecoderSettings()));

    [Fact]
    public void Create_UnknownFormat_ThrowsNamingTheKnownFormats()
    {
        var error = Assert.Throws<ArgumentException>(() => DecoderRegistry.Create("netflow-v9", new DecoderSettings()));
        Assert.Contains("netflow-v9", error.Message, StringComparison.Ordinal);
        foreach (var format in DecoderRegistry.Formats)
        {
            Assert.Contains(format, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Create_AwsWithFieldOrder_UsesIt()
    {
        var settings = new DecoderSettings();
        foreach (var field in "account-id interface-id srcaddr dstaddr srcport dstport protocol bytes start end flow-direction".Split(' '))
        {
            settings.AwsFieldOrder.Add(field);
        }

        var decoder = DecoderRegistry.Create("aws-vpc", settings);
        var record = default(FlowRecord);
        var line = Golden.SampleLines("aws-vpc/custom-no-version.log")[0];
        Assert.Equal(DecodeStatus.Ok, decoder.Decode(Encoding.UTF8.GetBytes(line), ref record, out _));
        Assert.Equal(4249UL, record.BytesOut);
    }

    [Fact]
    public void Create_AwsWithUnusableFieldOrder_Throws()
    {
        var settings = new DecoderSettings();
        settings.AwsFieldOrder.Add("srcaddr");
        Assert.Throws<ArgumentException>(() => DecoderRegistry.Create("aws-vpc", settings));
        Assert.Throws<ArgumentException>(() => DecoderRegistry.Create("auto", settings));
    }

    [Fact]
    public void Create_HubbleWithProfile_UsesIt()
    {
        var settings = new DecoderSettings();
        settings.Kubernetes.PodLabels["app"] = ["team"];
        var decoder = DecoderRegistry.Create("hubble-json", settings);
        var record = default(FlowRecord);
        Assert.Equal(DecodeStatus.Ok, decoder.Decode(Encoding.UTF8.GetBytes(Golden.SampleLines("hubble-json/observe.jsonl")[0]), ref record, out _));
        Assert.Equal("storefront", record.Src!.App);
    }
}
