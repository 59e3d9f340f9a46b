using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Ingest;
using Visibility.Ingest.Decoding;

namespace Visibility.Tests.Decoding;

/// <summary><c>Visibility:Decoding</c> is checked when the program starts, not when the first refused packet arrives.</summary>
public sealed class DecoderSettingsTests
{
    [Theory]
    [InlineData("00:00:00")]
    [InlineData("0s")]
    public void AttemptWindow_NotPositive_FailsAtStart_NamingTheKey(string window)
    {
        using var provider = Provider(new() { ["Visibility:Decoding:AttemptWindow"] = window });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(DecoderSettings.AttemptWindowProblem, error.Failures);
        Assert.StartsWith("Visibility:Decoding:AttemptWindow must be a positive duration", DecoderSettings.AttemptWindowProblem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, 60)]
    [InlineData("90s", 90)]
    [InlineData("00:00:00.500", 0.5)]
    public void AttemptWindow_DefaultOrPositive_StartsWithIt(string? window, double seconds)
    {
        var settings = new Dictionary<string, string?>();
        if (window is not null)
        {
            settings["Visibility:Decoding:AttemptWindow"] = window;
        }

        using var provider = Provider(settings);
        provider.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal(TimeSpan.FromSeconds(seconds), provider.GetRequiredService<IOptions<DecoderSettings>>().Value.AttemptWindow);
    }

    private static ServiceProvider Provider(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddIngest(configuration);
        return services.BuildServiceProvider();
    }
}
