using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// infra/deploy (Dockerfile, health probe, compose, ClickHouse configuration, Kubernetes manifests) passes
/// infra/deploy/validate.sh, and the script checked every such file rather than passing on an empty run; and the
/// program runs the way the image runs it: as the image's uid, on a read-only root filesystem, without capabilities.
/// </summary>
public sealed partial class DeployValidationTests(Xunit.Abstractions.ITestOutputHelper log)
{
    [Fact]
    public async Task ValidateScript_ChecksEveryDeployFile_AndPasses()
    {
        var root = Repository.Root;
        var deploy = Path.Combine(root, "infra", "deploy");

        // The first run on a machine installs its tools (Debian packages, npm packages): minutes, not seconds.
        var (exitCode, stdout, stderr) = await RunAsync("bash", [Path.Combine(deploy, "validate.sh")], deploy, TimeSpan.FromMinutes(10));

        Assert.True(exitCode == 0, $"validate.sh exited {exitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        var summary = SummaryLine().Match(stdout);
        Assert.True(summary.Success, $"no summary line in:\n{stdout}");
        var validated = ValidatedLine().Matches(stdout).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(validated.Count, int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

        // Every deployment file in the repository was among them (validate.sh itself and its tools aside).
        var (_, listing, _) = await RunAsync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], deploy, TimeSpan.FromSeconds(30));
        var expected = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => !f.StartsWith("tools/", StringComparison.Ordinal) && f != "validate.sh")
            .Where(f => DeployFile().IsMatch(f))
            .ToList();
        Assert.Contains("compose.yaml", expected);
        Assert.Contains("k8s/kustomization.yaml", expected);
        Assert.Contains("Dockerfile", expected);
        var missed = expected.Where(f => !validated.Contains(f)).ToList();
        Assert.True(missed.Count == 0, $"validate.sh did not check: {string.Join(", ", missed)}");
        Assert.Contains("../../.dockerignore", validated);
        Assert.Contains("haproxy/haproxy.cfg", validated);
        Assert.Contains("k8s/kafka/kafka.yaml", validated);
        Assert.Contains("k8s/clickhouse/clickhouse.yaml", validated);
        Assert.True(validated.Count >= 22, $"only {validated.Count} files validated:\n{stdout}");

        // The non-root, compose and custom-resource checks ran, and their self-tests saw every regression they plant reported.
        Assert.Contains("hardening-check: self-test ok", stdout, StringComparison.Ordinal);
        Assert.Contains("compose-check: self-test ok", stdout, StringComparison.Ordinal);
        Assert.Contains("crd-schema: self-test ok", stdout, StringComparison.Ordinal);
        Assert.Matches(@"crd-schema: 8 custom resources valid", stdout);
    }

    /// <summary>
    /// The operators' resources are checked against this repository's JSON Schemas of their CRDs (there is no cluster to
    /// ask): the file as committed passes, and the same file with one mistake a hand edit could make fails with a
    /// message that names the field.
    /// </summary>
    [Theory]
    [InlineData("k8s/kafka/kafka.yaml", "  replicas: 3\n  roles: [\"broker\"]", "  replicas: \"3\"\n  roles: [\"broker\"]", "KafkaNodePool/brokers: /spec/replicas must be integer")]
    [InlineData("k8s/kafka/kafka.yaml", "type: internal\n        tls: false", "type: internel\n        tls: false", "Kafka/visibility: /spec/kafka/listeners/0/type must be equal to one of the allowed values")]
    [InlineData("k8s/kafka/kafka.yaml", "version: 4.2.1", "version: 3.9.0", "Kafka/visibility: /spec/kafka/version must be equal to one of the allowed values")]
    [InlineData("k8s/kafka/topics.yaml", "partitions: 24", "partitions: 0", "KafkaTopic/flows: /spec/partitions must be >= 1")]
    [InlineData("k8s/clickhouse/clickhouse.yaml", "shardsCount: 2", "shardsCount: two", "ClickHouseInstallation/visibility: /spec/configuration/clusters/0/layout/shardsCount must be integer")]
    [InlineData("k8s/clickhouse/keeper.yaml", "replicasCount: 3", "replicasCount: 2", "ClickHouseKeeperInstallation/visibility: 2 Keeper nodes: a Raft quorum needs an odd number")]
    public async Task CustomResourceCheck_BrokenResource_FailsNamingTheField(string file, string good, string broken, string expected)
    {
        var deploy = Path.Combine(Repository.Root, "infra", "deploy");
        var script = Path.Combine(deploy, "validate.sh");
        var path = Path.Combine(deploy, file);
        var original = File.ReadAllText(path);
        Assert.True(original.Split(good).Length == 2, $"'{good}' must occur once in {file}");

        // With the other resources of its kustomization, which the cross-references need (a topic's Kafka, the
        // installation's Keeper).
        string[] others = [.. Directory.GetFiles(Path.GetDirectoryName(path)!, "*.yaml").Where(f => f != path && Path.GetFileName(f) != "kustomization.yaml")];
        var (exitCode, stdout, stderr) = await RunAsync("bash", [script, "--crd", path, .. others], deploy, TimeSpan.FromMinutes(10));
        Assert.True(exitCode == 0, $"{file} as committed: validate.sh --crd exited {exitCode}\n{stdout}{stderr}");

        using var directory = new TempDirectory("visibility-crd", create: true);
        var copy = Path.Combine(directory.Path, Path.GetFileName(file));
        File.WriteAllText(copy, original.Replace(good, broken, StringComparison.Ordinal));
        (exitCode, stdout, stderr) = await RunAsync("bash", [script, "--crd", copy, .. others], deploy, TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 1, $"broken {file}: validate.sh --crd exited {exitCode}\n{stdout}{stderr}");
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// What the image's user may do, without Docker: <c>serve</c> and <c>ingest</c> run in server mode as the
    /// Dockerfile's numeric uid:gid with no capabilities and no_new_privs, in a mount namespace where every file system
    /// is read-only except a tmpfs on /tmp and the data and export folders (owned by that user, as the image makes
    /// them). serve answers /healthz and stores its first key and a workload; ingest stores flows from Kafka, which
    /// serve's graph then counts. ClickHouse (the test endpoint) and the broker run as root outside, as they are
    /// other containers.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task ServeAndIngest_AsImageUserOnReadOnlyRoot_AnswerAndStore()
    {
        Assert.True(Environment.UserName == "root", "mount namespaces and setpriv need root");
        var (uid, gid) = ImageUser(File.ReadAllText(Path.Combine(Repository.Root, "infra", "deploy", "Dockerfile")));

        // On /var/tmp, not /tmp, which the sandbox covers with its own tmpfs.
        var layout = Path.Combine("/var/tmp", $"visibility-nonroot-{Guid.NewGuid():N}");
        var data = Path.Combine(layout, "data");
        var export = Path.Combine(layout, "export");
        using var store = new TempDirectory("visibility-e2e-nonroot");
        try
        {
            // The data and export folders as the Dockerfile makes them; beside them a folder anyone may write to, as
            // /var/tmp is, which only a read-only file system keeps the user out of.
            var open = Path.Combine(layout, "open");
            Directory.CreateDirectory(layout);

            // The program in a folder of its own, owned by root and readable by all, as the image's /app: the build
            // output may lie below /tmp (a CI clone), which the sandbox covers with its tmpfs.
            var app = Path.Combine(layout, "app");
            var (copied, _, copyError) = await RunAsync("cp", ["-r", Path.GetDirectoryName(VisibilityProcess.DllPath)!, app], layout, TimeSpan.FromSeconds(60));
            Assert.True(copied == 0, copyError);
            (copied, _, copyError) = await RunAsync("chmod", ["-R", "a+rX", app], layout, TimeSpan.FromSeconds(30));
            Assert.True(copied == 0, copyError);
            var appDll = Path.Combine(app, Path.GetFileName(VisibilityProcess.DllPath));
            Assert.True(ReadableByAnyone(appDll), $"uid {uid} cannot read {appDll}: every directory above it must be world-readable");
            var (made, _, error) = await RunAsync("install", ["-d", "-o", $"{uid}", "-g", $"{gid}", "-m", "0750", data, export], layout, TimeSpan.FromSeconds(10));
            Assert.True(made == 0, error);
            (made, _, error) = await RunAsync("install", ["-d", "-m", "1777", open], layout, TimeSpan.FromSeconds(10));
            Assert.True(made == 0, error);

            // The sandbox itself first: the user writes its folders and /tmp, and nothing beside them.
            var probe = $"id -u; id -g; touch {data}/probe {export}/probe /tmp/probe && ! touch {open}/probe 2>/dev/null && echo confined";
            string[] sandboxed = Sandboxed(uid, gid, data, export, ["sh", "-c", probe]);
            var (exit, output, stderr) = await RunAsync(sandboxed[0], sandboxed[1..], layout, TimeSpan.FromSeconds(30));
            Assert.True(exit == 0, $"sandbox probe exited {exit}: {output}{stderr}");
            Assert.Equal($"{uid}\n{gid}\nconfined\n", output);
            Assert.Empty(Directory.EnumerateFileSystemEntries(open));

            await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(store.Path, "chdb"), TimeSpan.FromSeconds(60));
            // The development broker stands for Kafka.
            var bootstrap = $"127.0.0.1:{FreePorts.Tcp()}";
            await using var broker = ChildProcess.Start(ChildProcess.Command(["dotnet", VisibilityProcess.DllPath, "dev-broker", "--port", bootstrap.Split(':')[1], "--partitions", "1"]), "dev-broker");
            await broker.WaitForLineAsync(new Regex($"listening on {Regex.Escape(bootstrap)}"), TimeSpan.FromSeconds(60));
            var database = $"e2e_nonroot_{Guid.NewGuid():N}"[..24];
            Dictionary<string, string> Settings(string user, int port) => new()
            {
                ["Visibility__Store__Mode"] = "server",
                ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(user),
                ["Visibility__Store__Database"] = database,
                ["Visibility__Store__MigrateOnStart"] = "true",
                ["Visibility__Store__Path"] = data,
                ["Visibility__Export__Directory"] = export,
                ["Visibility__Kafka__BootstrapServers"] = bootstrap,
                ["Visibility__Ingest__BatchLinger"] = "00:00:00.100",
                ["Visibility__Http__Urls"] = $"http://127.0.0.1:{port}",

                // ingest listens only here; serve's own is out of the way.
                ["Visibility__Management__Urls"] = $"http://127.0.0.1:{(user == "nonroot-ingest" ? port : FreePorts.Tcp())}",
            };

            var servePort = FreePorts.Tcp();
            var serveSettings = Settings("nonroot-serve", servePort);
            serveSettings["Visibility__Ingest__Enabled"] = "false";
            await using var serve = StartConfined("serve", Sandboxed(uid, gid, data, export, ["dotnet", appDll, "serve"]), serveSettings, layout);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{servePort}"), Timeout = TimeSpan.FromSeconds(30) };
            await serve.WaitAsync(() => StatusAsync(http, "/healthz"), status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(90), "/healthz 200");
            AssertConfined(serve.Id, uid, gid);

            // The first admin key, which serve has just stored, then a workload through the API.
            var key = await serve.WaitForLineAsync(PrintedKey(), TimeSpan.FromSeconds(30));
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key.Groups[1].Value);
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/readyz"));
            using (var put = await http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
            {
                Assert.True(put.StatusCode == HttpStatusCode.OK, $"{put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
            }

            var workloads = await http.GetFromJsonAsync<JsonElement>("/api/v1/workloads");
            Assert.Equal(DemoEstate.Workloads.Count, workloads.GetArrayLength());

            // As the Kubernetes StatefulSet runs it: static group membership under the pod's name.
            var ingestPort = FreePorts.Tcp();
            var ingestSettings = Settings("nonroot-ingest", ingestPort);
            ingestSettings["Visibility__Kafka__GroupInstanceId"] = "visibility-ingest-0";
            await using var ingest = StartConfined("ingest", Sandboxed(uid, gid, data, export, ["dotnet", appDll, "ingest"]), ingestSettings, layout);
            using var ingestHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ingestPort}"), Timeout = TimeSpan.FromSeconds(30) };
            await ingest.WaitAsync(() => StatusAsync(ingestHttp, "/readyz"), status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(90), "/readyz 200");
            AssertConfined(ingest.Id, uid, gid);

            const int connections = 20;
            Produce(bootstrap, connections);
            var graph = await PipelineEndToEndTests.WaitForGraphAsync(
                http, g => PipelineEndToEndTests.Edges(g).Values.Sum(e => e.Flows) >= connections, TimeSpan.FromSeconds(90));
            Assert.Equal(connections, PipelineEndToEndTests.Edges(graph).Values.Sum(e => e.Flows));
            // The endpoint logs a request after answering it, and its output is read asynchronously: wait for the line.
            await endpoint.WaitForLineAsync(
                l => l.Contains("user=nonroot-ingest ", StringComparison.Ordinal) && l.Contains("-> 200 (insert RowBinary", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "a RowBinary insert by the ingest user in the endpoint's log");

            // Both still run, so nothing they had to write was out of reach; and server mode left the data folder
            // alone, which is why the deployment mounts no volume there.
            Assert.False(serve.HasExited, serve.Output);
            Assert.False(ingest.HasExited, ingest.Output);
            Assert.Equal(["probe"], Directory.EnumerateFileSystemEntries(data).Select(Path.GetFileName));
            log.WriteLine($"serve:\n{serve.Output}\ningest:\n{ingest.Output}");
        }
        finally
        {
            if (Directory.Exists(layout))
            {
                Directory.Delete(layout, recursive: true);
            }
        }
    }

    /// <summary>
    /// The command line that runs <paramref name="command"/> the way the image's container does: unshare gives it a
    /// private mount namespace with every mount but /proc, /sys and /dev read-only, a tmpfs on /tmp, the data and
    /// export folders writable; then setpriv switches to the numeric uid:gid with no supplementary groups, no
    /// capabilities and no_new_privs.
    /// </summary>
    private static string[] Sandboxed(int uid, int gid, string data, string export, string[] command)
    {
        const string script = """
            set -eu
            uid=$1 gid=$2 data=$3 export=$4
            shift 4
            mount --bind "$data" "$data"
            mount --bind "$export" "$export"
            mount -t tmpfs -o rw,noexec,nosuid,nodev,size=64m,mode=1777 tmpfs /tmp
            # Mounts below /tmp (other tests' tmpfs disks, which come and go) are hidden under the new tmpfs already.
            findmnt -rn -o TARGET | while read -r target; do
              case "$target" in
                /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /tmp | /tmp/* | "$data" | "$export") ;;
                # A mount another test removed after findmnt listed it is gone from the path: nothing to protect.
                *) mount -o remount,bind,ro "$target" 2>/dev/null || [ ! -e "$target" ] || { echo "cannot make $target read-only" >&2; exit 1; } ;;
              esac
            done
            exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"
            """;
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sandbox",
            uid.ToString(CultureInfo.InvariantCulture), gid.ToString(CultureInfo.InvariantCulture), data, export, .. command];
    }

    /// <summary>The final stage's <c>USER uid:gid</c>, which validate.sh requires to be numeric.</summary>
    private static (int Uid, int Gid) ImageUser(string dockerfile)
    {
        var user = ImageUserLine().Matches(dockerfile).Last();
        return (int.Parse(user.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(user.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static bool ReadableByAnyone(string path)
    {
        if (!File.GetUnixFileMode(path).HasFlag(UnixFileMode.OtherRead))
        {
            return false;
        }

        for (var directory = new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(path))!); directory is not null; directory = directory.Parent)
        {
            if (!directory.UnixFileMode.HasFlag(UnixFileMode.OtherExecute))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The process runs as uid:gid (real, effective, saved), with no capabilities and no_new_privs.</summary>
    private static void AssertConfined(int pid, int uid, int gid)
    {
        var status = File.ReadAllLines($"/proc/{pid}/status").Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        Assert.Equal(Enumerable.Repeat(uid.ToString(CultureInfo.InvariantCulture), 4), status["Uid"].Split('\t'));
        Assert.Equal(Enumerable.Repeat(gid.ToString(CultureInfo.InvariantCulture), 4), status["Gid"].Split('\t'));
        Assert.Equal("", status["Groups"]);
        Assert.Equal("0000000000000000", status["CapEff"]);
        Assert.Equal("0000000000000000", status["CapBnd"]);
        Assert.Equal("1", status["NoNewPrivs"]);
    }

    private static async Task<HttpStatusCode?> StatusAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static void Produce(string bootstrap, int count)
    {
        var start = DateTimeOffset.UtcNow.AddMinutes(-2);
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        for (var n = 1; n <= count; n++)
        {
            var (src, dst, proto, port) = DemoEstate.Conversations[n % DemoEstate.Conversations.Count];
            var c = new Ulogd2Writer.Connection((uint)n, src, dst, proto, (ushort)(20000 + n), port, start.AddMilliseconds(n), start.AddMilliseconds(n + 500), (ulong)(100 + n), 2, (ulong)(1000 + n), 3);
            var key = n.ToString(CultureInfo.InvariantCulture);
            producer.Produce("flows", new Message<string, string> { Key = key, Value = Ulogd2Writer.New(c) });
            producer.Produce("flows", new Message<string, string> { Key = key, Value = Ulogd2Writer.Destroy(c) });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, string[] args, string directory, TimeSpan timeout) =>
        ProcessRunner.RunAsync(file, args, timeout: timeout, directory: directory);

    /// <summary>
    /// Starts <paramref name="command"/> in <paramref name="directory"/> with only <paramref name="environment"/>,
    /// PATH and HOME=/nonexistent (the image user's home, which does not exist), as the container gets them.
    /// </summary>
    private static ChildProcess StartConfined(string name, string[] command, IReadOnlyDictionary<string, string> environment, string directory)
    {
        var info = ChildProcess.Command(command, directory);
        var path = System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        info.Environment.Clear();
        info.Environment["PATH"] = path;
        info.Environment["HOME"] = "/nonexistent";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return ChildProcess.Start(info, name);
    }

    [GeneratedRegex(@"^USER (\d+):(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ImageUserLine();

    [GeneratedRegex(@"^\s+(vis_[0-9a-f]{12}_[0-9a-f]{64})$")]
    private static partial Regex PrintedKey();

    [GeneratedRegex(@"^validate: (\d+) files OK$", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^validated: (\S+) \(", RegexOptions.Multiline)]
    private static partial Regex ValidatedLine();

    [GeneratedRegex(@"(\.ya?ml|\.xml|\.conf|\.cfg|\.env|\.example|\.sh|(^|/)Dockerfile)$")]
    private static partial Regex DeployFile();
}
