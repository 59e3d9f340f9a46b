using System.ComponentModel.DataAnnotations;
using Visibility.Web.Hosting;

namespace Visibility.Tests.Web;

public sealed class ManagementOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => Assert.Empty(Problems(new ManagementOptions()));

    [Theory]
    [InlineData("http://0.0.0.0:5081")]
    [InlineData("http://[::]:5081")]
    [InlineData("http://*:5081")]
    [InlineData("http://localhost:0")]
    [InlineData("http://127.0.0.1:5081/;http://[::1]:5081")]
    [InlineData("")]
    public void Urls_PlainHttpWithPort_Accepted(string urls) => Assert.Empty(Problems(new ManagementOptions { Urls = urls }));

    [Theory]
    [InlineData("https://0.0.0.0:5081")]
    [InlineData("http://0.0.0.0")]
    [InlineData("5081")]
    [InlineData("http://0.0.0.0:5081/metrics")]
    [InlineData("http://127.0.0.1:5081;tcp://x:1")]
    public void Urls_NotPlainHttpWithPort_RefusedNamingTheUrl(string urls)
    {
        var problem = Assert.Single(Problems(new ManagementOptions { Urls = urls }));
        Assert.StartsWith("Visibility:Management:Urls: '", problem, StringComparison.Ordinal);
        Assert.Contains("is not http://HOST:PORT", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void MaxReadyLag_Negative_Refused() => Assert.NotEmpty(Problems(new ManagementOptions { MaxReadyLag = -1 }));

    private static List<string> Problems(ManagementOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return [.. results.Select(r => r.ErrorMessage ?? "")];
    }
}
