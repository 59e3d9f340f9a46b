using System.Collections.Frozen;

namespace Visibility.Flows.Labels;

/// <summary>
/// What enrichment attaches to one end of a flow: a workload with its labels, or a class for a peer no
/// workload owns (<c>unknown</c> internal, <c>internet</c>, or a configured named network). Instances live in
/// an immutable snapshot and are shared by every record that refers to them; the store's encoding of the label
/// columns is derived once per instance (<see cref="Derived{T}"/>), so enriching and encoding a record copies bytes
/// and allocates nothing.
/// </summary>
public sealed class Endpoint
{
    public const string UnknownKind = "unknown";
    public const string InternetKind = "internet";

    public static readonly Endpoint Unknown = Unclassified(UnknownKind);
    public static readonly Endpoint Internet = Unclassified(InternetKind);

    private object? derived;

    private Endpoint(string workload, string kind, FrozenDictionary<string, string> labels)
    {
        Workload = workload;
        Kind = kind;
        Labels = labels;
        Role = labels.GetValueOrDefault(LabelKeys.Role, "");
        App = labels.GetValueOrDefault(LabelKeys.App, "");
        Env = labels.GetValueOrDefault(LabelKeys.Env, "");
        Loc = labels.GetValueOrDefault(LabelKeys.Loc, "");
    }

    /// <summary>The workload name; empty for peers without a workload.</summary>
    public string Workload { get; }

    /// <summary>host, vm, pod, service, network for workloads; unknown, internet or a network name otherwise.</summary>
    public string Kind { get; }

    public FrozenDictionary<string, string> Labels { get; }

    public string Role { get; }

    public string App { get; }

    public string Env { get; }

    public string Loc { get; }

    public bool IsWorkload => Workload.Length > 0;

    /// <summary>
    /// A value computed from this endpoint once and kept with it: the store's encoding of its label columns. The
    /// first value made is kept; a racing caller's copy is used once and dropped. One kind of value per endpoint.
    /// </summary>
    public T Derived<T>(Func<Endpoint, T> create)
        where T : class
    {
        if (derived is T known)
        {
            return known;
        }

        var made = create(this);
        return Interlocked.CompareExchange(ref derived, made, null) as T ?? made;
    }

    public static Endpoint ForWorkload(WorkloadSpec spec) =>
        new(spec.Name, spec.Kind ?? "host", spec.Labels.ToFrozenDictionary(StringComparer.Ordinal));

    /// <summary>A peer owned by no workload, classified as <paramref name="kind"/> (a named network may carry labels).</summary>
    public static Endpoint Unclassified(string kind, IReadOnlyDictionary<string, string>? labels = null) =>
        new("", kind, labels is null ? FrozenDictionary<string, string>.Empty : labels.ToFrozenDictionary(StringComparer.Ordinal));

    /// <summary>A workload whose labels were completed by label rules.</summary>
    public static Endpoint ForWorkload(WorkloadSpec spec, IReadOnlyDictionary<string, string> labels) =>
        new(spec.Name, spec.Kind ?? "host", labels.ToFrozenDictionary(StringComparer.Ordinal));
}
