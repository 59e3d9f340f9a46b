using System.Collections.Concurrent;
using System.Text.Json;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Hubble's Kubernetes endpoint resolution: an end of a Hubble flow with a namespace or pod name is a Kubernetes
/// workload, named <c>namespace/pod</c> (kind <c>pod</c>) and labelled by <see cref="KubernetesLabelMapper"/> from its
/// <c>k8s:</c> labels, with Cilium's namespace labels (<c>io.cilium.k8s.namespace.labels.*</c>) standing in for
/// namespace annotations; Cilium's own bookkeeping labels are dropped. Endpoints are cached by the bytes that define
/// them, so repeated pods cost a lookup and no allocation. The Hubble decoder hands each end's JSON object here
/// while the message is still in hand; ends without such identity (for example <c>reserved:world</c>) are left to
/// the workload index (<see cref="FlowEnricher"/>). Sealed, with no interface: it runs for both ends of every
/// Hubble record, and the decoder's call stays direct.
/// </summary>
public sealed class KubernetesEndpointResolver
{
    /// <summary>Endpoints cached before the cache is emptied and refilled (pods churn).</summary>
    public const int MaxCached = 100_000;

    private const string NamespaceLabelPrefix = "io.cilium.k8s.namespace.labels.";

    private readonly KubernetesLabelMapper mapper;
    private readonly ConcurrentDictionary<byte[], Endpoint> endpoints = new(EndpointKeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], Endpoint>.AlternateLookup<ReadOnlySpan<byte>> endpointsBySpan;
    private int cachedEndpoints;

    /// <summary>
    /// The key is built in a buffer kept per thread, not one rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>: the shared
    /// pool drops its per-thread arrays on a full collection, so the record after one would allocate.
    /// </summary>
    [ThreadStatic]
    private static byte[]? keyBuffer;

    public KubernetesEndpointResolver(KubernetesProfileOptions? profile = null)
    {
        mapper = new KubernetesLabelMapper(profile ?? new KubernetesProfileOptions());
        endpointsBySpan = endpoints.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    /// <summary>How many endpoints the cache holds.</summary>
    public int Cached => Volatile.Read(ref cachedEndpoints);

    /// <summary>
    /// The endpoint of one end, from its JSON object: null without a namespace or pod name. The cache key is the
    /// end's identity as it appears (namespace, pod, workloads, labels); the address is not part of it, since an
    /// <see cref="Endpoint"/> keeps only a name, a kind and labels.
    /// </summary>
    public Endpoint? Resolve(ReadOnlySpan<byte> json, UInt128 address)
    {
        // Unescaping never lengthens a string, and each value brings at least its two quotes for the two bytes
        // (tag, separator) it takes in the key, so the key fits in the object's length.
        var buffer = KeyBuffer(json.Length + 8);
        var keyLength = BuildKey(json, buffer, out var hasIdentity);
        if (!hasIdentity)
        {
            return null;
        }

        var key = buffer.AsSpan(0, keyLength);
        if (endpointsBySpan.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var endpoint = CreateEndpoint(json, address);
        if (Interlocked.Increment(ref cachedEndpoints) > MaxCached)
        {
            endpoints.Clear();
            Volatile.Write(ref cachedEndpoints, 1);
        }

        return endpointsBySpan.TryAdd(key, endpoint) ? endpoint : endpointsBySpan.TryGetValue(key, out cached) ? cached : endpoint;
    }

    private static byte[] KeyBuffer(int length)
    {
        if (keyBuffer is { } kept && kept.Length >= length)
        {
            return kept;
        }

        // An end's object is bounded by the message (Kafka's message size), so the buffer stays small.
        return keyBuffer = new byte[Math.Max(length, 4096)];
    }

    private static int BuildKey(ReadOnlySpan<byte> json, byte[] buffer, out bool hasIdentity)
    {
        hasIdentity = false;
        var length = 0;
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            byte tag = reader.ValueTextEquals("namespace"u8) ? (byte)'n'
                : reader.ValueTextEquals("pod_name"u8) ? (byte)'p'
                : reader.ValueTextEquals("labels"u8) ? (byte)'l'
                : reader.ValueTextEquals("workloads"u8) ? (byte)'w' : (byte)0;
            reader.Read();
            switch (tag)
            {
                case (byte)'n' or (byte)'p':
                    if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                    {
                        hasIdentity = true;
                        Append(ref reader, tag, buffer, ref length);
                    }
                    else
                    {
                        reader.Skip();
                    }

                    break;
                case (byte)'l' or (byte)'w':
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        reader.Skip();
                        break;
                    }

                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            Append(ref reader, tag, buffer, ref length);
                        }
                        else if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            // A workload: {"name": …, "kind": …}.
                            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                            {
                                reader.Read();
                                if (reader.TokenType == JsonTokenType.String)
                                {
                                    Append(ref reader, tag, buffer, ref length);
                                }
                                else
                                {
                                    reader.Skip();
                                }
                            }
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return length;
    }

    private static void Append(ref Utf8JsonReader reader, byte tag, byte[] buffer, ref int length)
    {
        buffer[length++] = tag;
        length += reader.CopyString(buffer.AsSpan(length));
        buffer[length++] = 0;
    }

    /// <summary>A cache miss: the end's strings, its labels through the profile, and a new endpoint.</summary>
    private Endpoint CreateEndpoint(ReadOnlySpan<byte> json, UInt128 address)
    {
        string? @namespace = null, pod = null, workload = null, namespaceFromLabel = null;
        var podLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        var namespaceLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("namespace"u8))
            {
                reader.Read();
                @namespace = reader.GetString();
            }
            else if (reader.ValueTextEquals("pod_name"u8))
            {
                reader.Read();
                pod = reader.GetString();
            }
            else if (reader.ValueTextEquals("workloads"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isName = reader.ValueTextEquals("name"u8);
                        reader.Read();
                        if (isName && workload is null && reader.TokenType == JsonTokenType.String)
                        {
                            workload = reader.GetString();
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
            }
            else if (reader.ValueTextEquals("labels"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        AddLabel(reader.GetString()!, podLabels, namespaceLabels, ref namespaceFromLabel);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        @namespace = string.IsNullOrEmpty(@namespace) ? namespaceFromLabel : @namespace;
        // namespace/pod; a pod Hubble could not name goes by its workload, and by its namespace alone at worst.
        var local = string.IsNullOrEmpty(pod) ? workload : pod;
        var name = string.IsNullOrEmpty(local) ? @namespace ?? "" : string.IsNullOrEmpty(@namespace) ? local : $"{@namespace}/{local}";
        var labels = mapper.Map(@namespace, podLabels, namespaceLabels);
        var spec = new WorkloadSpec { Name = name, Kind = "pod", Addresses = [IpAddressKey.Format(address)], Labels = labels };
        return Endpoint.ForWorkload(spec, labels);
    }

    /// <summary>
    /// Cilium labels are <c>source:key=value</c>. Only <c>k8s:</c> labels are the pod's; among them Cilium adds
    /// its own: the namespace (<c>io.kubernetes.pod.namespace</c>), the namespace's labels
    /// (<c>io.cilium.k8s.namespace.labels.*</c>, kept apart for the profile's namespace rules) and policy
    /// bookkeeping (<c>io.cilium.k8s.policy.*</c>), which are not the pod's labels.
    /// </summary>
    private static void AddLabel(string label, Dictionary<string, string> podLabels, Dictionary<string, string> namespaceLabels, ref string? @namespace)
    {
        if (!label.StartsWith("k8s:", StringComparison.Ordinal))
        {
            return;
        }

        var pair = label.AsSpan(4);
        var equals = pair.IndexOf('=');
        var key = (equals < 0 ? pair : pair[..equals]).ToString();
        var value = equals < 0 ? "" : pair[(equals + 1)..].ToString();
        if (key == "io.kubernetes.pod.namespace")
        {
            @namespace = value;
        }
        else if (key.StartsWith(NamespaceLabelPrefix, StringComparison.Ordinal))
        {
            namespaceLabels[key[NamespaceLabelPrefix.Length..]] = value;
        }
        else if (!key.StartsWith("io.cilium.", StringComparison.Ordinal) && !key.StartsWith("io.kubernetes.pod.", StringComparison.Ordinal))
        {
            podLabels[key] = value;
        }
    }

    /// <summary>Byte keys, looked up by span so that a cache hit allocates nothing.</summary>
    private sealed class EndpointKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly EndpointKeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> bytes)
        {
            var hash = default(HashCode);
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
