using System.Diagnostics;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

public sealed class NftablesRendererTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Render_DraftedRuleset_MatchesGolden()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now)).Render(Ruleset());

        Golden.VerifyText("policy/ruleset.nft", script);
    }

    [Fact]
    public void Render_DraftedRuleset_PassesNftCheck()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now)).Render(Ruleset());

        Nft.Check(script);
    }

    [Fact]
    public void Render_WorkloadRule_OneRulePerFamilyAndProtocolWithPorts()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now)).Render(Ruleset());

        Assert.Contains("ip saddr @app_web_env_prod_namespace_shop_v4 ip daddr @app_api_env_prod_namespace_shop_v4 tcp dport 8000-8100 accept", script, StringComparison.Ordinal);
        Assert.Contains("ip6 saddr @app_web_env_prod_namespace_shop_v6 ip6 daddr @app_api_env_prod_namespace_shop_v6 tcp dport 8000-8100 accept", script, StringComparison.Ordinal);
        Assert.Contains("icmp type echo-request accept comment \"app=web,env=prod,namespace=shop -> app=api,env=prod,namespace=shop\"", script, StringComparison.Ordinal);
        Assert.Contains("# not rendered: unknown -> app=db,env=prod,namespace=shop:", script, StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.1.6", script, StringComparison.Ordinal);
    }

    [Fact]
    public void AddressBook_Internet_ExcludesInternalRangesAndWorkloads()
    {
        var book = new InventoryAddressBook([Spec("public-web", ["203.0.113.10"], ("app", "web"))]);

        var internet = book.Addresses(new PolicyPeer(PolicyPeer.Internet, new Dictionary<string, string>()));

        Assert.Equal(
            ["0.0.0.0-9.255.255.255", "11.0.0.0-100.63.255.255", "100.128.0.0-126.255.255.255", "128.0.0.0-169.253.255.255",
             "169.255.0.0-172.15.255.255", "172.32.0.0-192.167.255.255", "192.169.0.0-203.0.113.9", "203.0.113.11-255.255.255.255"],
            internet.Where(a => !a.Contains(':', StringComparison.Ordinal)));
        Assert.Equal(["::", "::2-::fffe:ffff:ffff", "::1:0:0:0-fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::/9", "fec0::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
            internet.Where(a => a.Contains(':', StringComparison.Ordinal)));
    }

    [Fact]
    public void Render_HostileLabelsAndNames_CannotAddNftSyntax()
    {
        var hostile = "x\" accept\n}\ntable ip evil { chain c { type filter hook input priority 0; policy accept; } }\n# \\";
        var book = new InventoryAddressBook([Spec("a", ["10.0.0.1"], ("app", hostile)), Spec("b", ["10.0.0.2"], ("app", "db"))]);
        var ruleset = new PolicyRuleset(hostile, ["app"],
            [new PolicyRule(hostile + new string('y', 300), Workload(("app", hostile)), Workload(("app", "db")), [Tcp(5432)])]);

        var script = new NftablesRenderer(book).Render(ruleset);

        // Outside comments (whole-line '#', the quoted rule comment and log prefix) nothing of the hostile text may remain as syntax.
        var code = script.Split('\n').Where(l => !l.TrimStart().StartsWith('#'))
            .Select(l => l.Contains(" comment \"", StringComparison.Ordinal) ? l[..l.IndexOf(" comment \"", StringComparison.Ordinal)] : l)
            .Select(l => l.Contains(" prefix \"", StringComparison.Ordinal) ? l[..l.IndexOf(" prefix \"", StringComparison.Ordinal)] : l).ToList();
        Assert.Equal(["table inet visibility {}", "delete table inet visibility", "table inet visibility {"], code.Where(l => l.StartsWith("table", StringComparison.Ordinal) || l.StartsWith("delete", StringComparison.Ordinal)));
        Assert.Equal(["\tchain input {", "\tchain forward {", "\tchain allow {"], code.Where(l => l.Contains("chain ", StringComparison.Ordinal)));
        Assert.DoesNotContain(code, l => l.Contains("policy accept", StringComparison.Ordinal) || l.Contains("table ip", StringComparison.Ordinal));
        var comment = script.Split('\n').Single(l => l.Contains("comment", StringComparison.Ordinal));
        Assert.Equal(2, comment.Count(c => c == '"'));
        var drop = script.Split('\n').Single(l => l.Contains("log group", StringComparison.Ordinal) && !l.TrimStart().StartsWith('#'));
        Assert.Equal(2, drop.Count(c => c == '"'));
        Assert.EndsWith("\" drop", drop, StringComparison.Ordinal);
        Nft.Check(script);
    }
}

/// <summary>Runs Debian's nft on a script: a check (<c>-c</c>) or a load into a network namespace.</summary>
public static class Nft
{
    public const string Path = "/usr/sbin/nft";

    public static void Check(string script)
    {
        Assert.True(File.Exists(Path), $"{Path} is missing; infra/setup/install-deps.sh installs nftables");
        Assert.True(Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root", "nft -c needs root (netlink); the tests run as root");
        var file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"visibility-{Guid.NewGuid():N}.nft");
        File.WriteAllText(file, script);
        try
        {
            var (code, output) = Run(Path, "-c", "-f", file);
            Assert.True(code == 0, $"nft -c rejected the script:\n{output}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static (int Code, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(30_000), $"{program} {string.Join(' ', arguments)} did not finish in 30 s");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
