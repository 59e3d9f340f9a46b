using System.Text;
using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Enrichment;

/// <summary>Hubble ends (the JSON object of a flow's source or destination) resolved to Kubernetes workloads, without a decoder.</summary>
public sealed class KubernetesEndpointResolverTests
{
    private const string Cart = """
        {"ID":2210,"namespace":"shop","pod_name":"cart-5f8b9c6d47-q8r2m",
         "labels":["k8s:app=cart","k8s:tier=backend","k8s:io.cilium.k8s.namespace.labels.env=prod",
                   "k8s:io.cilium.k8s.policy.cluster=default","k8s:io.kubernetes.pod.namespace=shop","reserved:host"],
         "workloads":[{"name":"cart","kind":"Deployment"}]}
        """;

    private static readonly UInt128 Address = 0x0a_f4_02_1f;

    [Fact]
    public void Resolve_PodEnd_IsALabelledPodWorkloadNamedByNamespaceAndPod()
    {
        var endpoint = new KubernetesEndpointResolver().Resolve(Encoding.UTF8.GetBytes(Cart), Address)!;

        Assert.Equal("shop/cart-5f8b9c6d47-q8r2m", endpoint.Workload);
        Assert.Equal("pod", endpoint.Kind);
        Assert.Equal(("cart", "backend", "prod"), (endpoint.App, endpoint.Role, endpoint.Env));
        Assert.Equal("shop", endpoint.Labels["namespace"]);
        Assert.DoesNotContain(endpoint.Labels.Keys, k => k.StartsWith("io.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"namespace":"shop","workloads":[{"name":"cart","kind":"Deployment"}]}""", "shop/cart")]
    [InlineData("""{"namespace":"shop"}""", "shop")]
    [InlineData("""{"labels":["k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"cart-1"}""", "shop/cart-1")]
    public void Resolve_PodWithoutFullName_GoesByWorkloadThenNamespace(string json, string expected) =>
        Assert.Equal(expected, new KubernetesEndpointResolver().Resolve(Encoding.UTF8.GetBytes(json), Address)!.Workload);

    [Theory]
    [InlineData("""{"identity":2,"labels":["reserved:world"]}""")]
    [InlineData("""{"namespace":"","pod_name":""}""")]
    public void Resolve_EndWithoutKubernetesIdentity_IsLeftToTheWorkloadIndex(string json)
    {
        var resolver = new KubernetesEndpointResolver();
        Assert.Null(resolver.Resolve(Encoding.UTF8.GetBytes(json), Address));
        Assert.Equal(0, resolver.Cached);
    }

    [Fact]
    public void Resolve_CustomProfile_MapsLabelsThroughIt()
    {
        var profile = new KubernetesProfileOptions();
        profile.PodLabels["app"] = ["tier"];
        var endpoint = new KubernetesEndpointResolver(profile).Resolve(Encoding.UTF8.GetBytes(Cart), Address)!;
        Assert.Equal("backend", endpoint.App);
    }

    [Fact]
    public void Resolve_SameIdentityAgain_IsTheCachedEndpointAndAllocatesNothing()
    {
        var resolver = new KubernetesEndpointResolver();
        var json = Encoding.UTF8.GetBytes(Cart);
        var first = resolver.Resolve(json, Address);
        Assert.Same(first, resolver.Resolve(json, Address + 1));
        Assert.Equal(1, resolver.Cached);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            resolver.Resolve(json, Address);
        }

        // An allocation per call would be at least 24 bytes each (240,000 in all).
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 20_000);
    }

    [Fact]
    public void Resolve_ChangedLabels_IsANewEndpoint()
    {
        var resolver = new KubernetesEndpointResolver();
        var before = resolver.Resolve(Encoding.UTF8.GetBytes(Cart), Address)!;
        var after = resolver.Resolve(Encoding.UTF8.GetBytes(Cart.Replace("k8s:app=cart", "k8s:app=basket", StringComparison.Ordinal)), Address)!;
        Assert.NotSame(before, after);
        Assert.Equal(("cart", "basket"), (before.App, after.App));
        Assert.Equal(2, resolver.Cached);
    }
}
