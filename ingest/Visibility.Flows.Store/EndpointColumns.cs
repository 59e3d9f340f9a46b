using System.Buffers;
using Visibility.Flows.Labels;

namespace Visibility.Flows.Store;

/// <summary>
/// The label columns of one flow end (workload, kind, role, app, env, loc, then the other labels sorted by key) in
/// <see cref="FlowSchema"/> column order, as RowBinary. Encoded once per <see cref="Endpoint"/> and kept with it, so
/// writing a row copies these bytes and allocates nothing.
/// </summary>
public static class EndpointColumns
{
    private static readonly Func<Endpoint, byte[]> Encode = EncodeRowBinary;

    public static byte[] RowBinaryOf(Endpoint endpoint) => endpoint.Derived(Encode);

    private static byte[] EncodeRowBinary(Endpoint endpoint)
    {
        var writer = new ArrayBufferWriter<byte>(64);
        RowBinary.WriteString(writer, endpoint.Workload);
        RowBinary.WriteString(writer, endpoint.Kind);
        RowBinary.WriteString(writer, endpoint.Role);
        RowBinary.WriteString(writer, endpoint.App);
        RowBinary.WriteString(writer, endpoint.Env);
        RowBinary.WriteString(writer, endpoint.Loc);
        var extra = endpoint.Labels.Where(l => !LabelKeys.Standard.Contains(l.Key)).OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
        RowBinary.WriteVarUInt(writer, (ulong)extra.Count);
        foreach (var (key, value) in extra)
        {
            RowBinary.WriteString(writer, key);
            RowBinary.WriteString(writer, value);
        }

        return writer.WrittenSpan.ToArray();
    }
}
