using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// A minimal OpenID Connect issuer on a loopback port: the discovery document and a JWKS with one RSA key, and
/// tokens signed with it (or, for the negative tests, with a key it does not publish).
/// </summary>
public sealed class TestOidcIssuer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly RSA rsa = RSA.Create(2048);
    private readonly RSA stranger = RSA.Create(2048);
    private readonly CancellationTokenSource stop = new();

    public TestOidcIssuer()
    {
        var port = FreePorts.Tcp();
        Authority = $"http://127.0.0.1:{port}/";
        listener.Prefixes.Add(Authority);
        listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public string Authority { get; }

    public int Requests { get; private set; }

    /// <summary>A token for <paramref name="audience"/> with these claims (roles, visibility_scope: string or string[]).</summary>
    public string Token(string subject, IDictionary<string, object> claims, string audience = "visibility", TimeSpan? lifetime = null, bool signedByStranger = false)
    {
        var now = DateTime.UtcNow;
        var life = lifetime ?? TimeSpan.FromMinutes(10);
        var all = new Dictionary<string, object>(claims) { ["sub"] = subject };
        var key = new RsaSecurityKey(signedByStranger ? stranger : rsa) { KeyId = "test-key" };
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Authority,
            Audience = audience,
            IssuedAt = life < TimeSpan.Zero ? now + life - TimeSpan.FromMinutes(10) : now,
            NotBefore = life < TimeSpan.Zero ? now + life - TimeSpan.FromMinutes(10) : now,
            Expires = now + life,
            Claims = all,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Close();
        rsa.Dispose();
        stranger.Dispose();
        stop.Dispose();
    }

    private async Task ServeAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            Requests++;
            var path = context.Request.Url!.AbsolutePath;
            var body = path switch
            {
                "/.well-known/openid-configuration" =>
                    $$"""{"issuer": "{{Authority}}", "jwks_uri": "{{Authority}}jwks", "id_token_signing_alg_values_supported": ["RS256"]}""",
                "/jwks" => Jwks(),
                _ => null,
            };
            context.Response.StatusCode = body is null ? 404 : 200;
            context.Response.ContentType = "application/json";
            var bytes = Encoding.UTF8.GetBytes(body ?? "{}");
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    private string Jwks()
    {
        var p = rsa.ExportParameters(false);
        return $$"""{"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-key", "n": "{{Base64UrlEncoder.Encode(p.Modulus)}}", "e": "{{Base64UrlEncoder.Encode(p.Exponent)}}"}]}""";
    }
}
