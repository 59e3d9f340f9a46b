using System.Reflection;
using System.Runtime.InteropServices;
using Visibility.Ingest.Kafka;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// The development broker shortens the mock cluster's initial rebalance delay to 100 ms, which suits tests with
/// one consumer. With several, a member that asks to join after that window makes the mock rebalance a group that
/// is already up, and such a rebalance waits session.timeout.ms − 1 s (44 s by default) for the other members,
/// whose broker connections (fetches included) are held meanwhile: every consumer stops. On a loaded machine the
/// second of two consumers easily misses 100 ms, and chDB's Kafka engine starts its second consumer later still.
/// The harness sets the delay back to Kafka's own default of 3 s, so every member of a fresh group joins the first
/// generation; the measured time starts at the first record consumed, after the join.
/// </summary>
internal static partial class MockBrokerTuning
{
    private const string Library = "rdkafka";
    private static readonly string[] Candidates = ["librdkafka.so", "centos8-librdkafka.so"];

    static MockBrokerTuning() => NativeLibrary.SetDllImportResolver(typeof(MockBrokerTuning).Assembly, Resolve);

    public static void SetInitialRebalanceDelay(DevBroker broker, TimeSpan delay)
    {
        // DevBroker keeps the mock cluster handle to itself; it is read here rather than changed there.
        var field = typeof(DevBroker).GetField("cluster", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new HarnessFailure("DevBroker no longer has a 'cluster' field; the harness cannot set the mock's initial rebalance delay.");
        var cluster = (IntPtr)field.GetValue(broker)!;
        GroupInitialRebalanceDelayMs(cluster, (int)delay.TotalMilliseconds);
    }

    [LibraryImport(Library, EntryPoint = "rd_kafka_mock_group_initial_rebalance_delay_ms")]
    private static partial void GroupInitialRebalanceDelayMs(IntPtr cluster, int delayMs);

    // The same librdkafka that Confluent.Kafka and DevBroker loaded (loading it again returns the same handle).
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }

        var native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        foreach (var candidate in Candidates)
        {
            if (NativeLibrary.TryLoad(Path.Combine(native, candidate), out var handle))
            {
                return handle;
            }
        }

        throw new DllNotFoundException($"librdkafka could not be loaded from '{native}'.");
    }
}
