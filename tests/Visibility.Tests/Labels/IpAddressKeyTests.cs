using System.Net;
using System.Net.Sockets;
using System.Text;
using Visibility.Flows.Model;

namespace Visibility.Tests.Labels;

public sealed class IpAddressKeyTests
{
    [Theory]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fd99:1::2")]
    [InlineData("2001:db8::ff00:42:8329")]
    [InlineData("2001:0db8:0000:0000:0000:ff00:0042:8329")]
    [InlineData("1::")]
    [InlineData("1:2:3:4:5:6:7::")]
    [InlineData("::2:3:4:5:6:7:8")]
    [InlineData("::ffff:10.1.2.3")]
    [InlineData("64:ff9b::192.0.2.33")]
    [InlineData("FE80::1")]
    public void TryParse_ValidIPv6_MatchesFramework(string text)
    {
        Assert.True(IpAddressKey.TryParse(Encoding.ASCII.GetBytes(text), out var key));
        Assert.Equal(IpAddressKey.FromAddress(IPAddress.Parse(text)), key);
    }

    [Theory]
    [InlineData(":")]
    [InlineData(":::")]
    [InlineData("1:2")]
    [InlineData("1::2::3")]
    [InlineData("12345::")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("g::1")]
    [InlineData("1:")]
    [InlineData("::1.2.3")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    public void TryParse_InvalidIPv6_IsRejected(string text)
    {
        Assert.False(IpAddressKey.TryParse(Encoding.ASCII.GetBytes(text), out _));
    }

    [Fact]
    public void TryParse_RandomAddressesInEveryForm_RoundTrip()
    {
        var random = new Random(11);
        Span<byte> bytes = stackalloc byte[16];
        for (var n = 0; n < 5_000; n++)
        {
            random.NextBytes(bytes);
            // Runs of zero groups exercise "::".
            for (var g = random.Next(8); g < 8 && random.Next(3) > 0; g++)
            {
                bytes[2 * g] = bytes[(2 * g) + 1] = 0;
            }

            var address = new IPAddress(bytes);
            var text = address.ToString();
            Assert.True(IpAddressKey.TryParse(Encoding.ASCII.GetBytes(text), out var key), text);
            Assert.Equal(IpAddressKey.FromAddress(address), key);
            Assert.Equal(AddressFamily.InterNetworkV6, address.AddressFamily);
        }
    }
}
