using Visibility.Query.Security;
using Visibility.Tests.Support;
using Visibility.Web.Auth;

namespace Visibility.Tests.Web;

/// <summary>API keys in the real store: a key this process creates or revokes takes effect here at once.</summary>
public sealed class ApiKeyStoreTests
{
    /// <summary>
    /// Found by an end-to-end test: a key created through the API was refused for up to a second when a reload that
    /// had read the keys before the key was written finished while the create waited for it (the create then took
    /// that reload's answer as its own). Reloads run beside every create here, as other requests' would.
    /// </summary>
    [Fact]
    public async Task CreateThenAuthenticate_WhileOtherReloadsRun_TheNewKeyIsKnownAtOnce_AndARevokedOneRefusedAtOnce()
    {
        var store = await TestStore.CreateAsync();
        using var keys = new ApiKeyStore(store, store);
        for (var i = 0; i < 40; i++)
        {
            var reloads = Enumerable.Range(0, 3).Select(_ => Task.Run(() => keys.ReloadAsync(CancellationToken.None))).ToList();
            var created = await keys.CreateAsync($"key-{i}", Roles.Viewer, AccessScope.Unrestricted, "test", CancellationToken.None);
            var known = await keys.AuthenticateAsync(created.Key, CancellationToken.None);
            Assert.True(known is not null, $"key {i} was refused right after it was created");
            Assert.Equal(created.Info.Id, known.Id);

            Assert.True(await keys.RevokeAsync(created.Info.Id, CancellationToken.None));
            Assert.Null(await keys.AuthenticateAsync(created.Key, CancellationToken.None));
            await Task.WhenAll(reloads);
        }

        // And another process's view (a fresh store object) agrees with what this one did.
        using var other = new ApiKeyStore(store, store);
        Assert.Equal(40, (await other.ListAsync(CancellationToken.None)).Count(k => k.Revoked));
    }
}
