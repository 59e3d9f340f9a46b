using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Visibility.Web.Http;

/// <summary>Loads the server certificate named by <c>Visibility:Http:Certificate</c>; every failure names the setting.</summary>
public static class HttpsCertificate
{
    /// <summary>A PEM file (key inside it or at <see cref="CertificateOptions.KeyPath"/>) or a PKCS#12 file, with its private key.</summary>
    /// <exception cref="InvalidDataException">The files are missing, unreadable, or hold no usable certificate and key.</exception>
    public static X509Certificate2 Load(CertificateOptions options)
    {
        var path = options.Path;
        var keyPath = string.IsNullOrWhiteSpace(options.KeyPath) ? null : options.KeyPath;
        var password = string.IsNullOrEmpty(options.Password) ? null : options.Password;
        X509Certificate2 certificate;
        try
        {
            if (IsPem(path, out var keyInside))
            {
                if (keyPath is null && !keyInside)
                {
                    throw new InvalidDataException($"Visibility:Http:Certificate: '{path}' has no private key (set Visibility:Http:Certificate:KeyPath to the key's PEM file)");
                }

                certificate = password is null
                    ? X509Certificate2.CreateFromPemFile(path, keyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
            }
            else
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            var files = keyPath is null ? $"'{path}'" : $"'{path}' (key '{keyPath}')";
            throw new InvalidDataException($"Visibility:Http:Certificate: cannot load {files}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidDataException($"Visibility:Http:Certificate: '{path}' has no private key (set Visibility:Http:Certificate:KeyPath, or use a .pfx with its key)");
        }

        return certificate;
    }

    /// <summary>PEM files are text with <c>-----BEGIN</c> lines; anything else is taken for PKCS#12.</summary>
    private static bool IsPem(string path, out bool keyInside)
    {
        var bytes = File.ReadAllBytes(path);
        keyInside = bytes.AsSpan().IndexOf("PRIVATE KEY-----"u8) >= 0;
        return bytes.AsSpan().IndexOf("-----BEGIN "u8) >= 0;
    }
}
