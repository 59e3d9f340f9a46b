namespace Visibility.Ingest.Decoding;

/// <summary>IP protocol numbers and names as the flow sources print them, and the ICMP port convention.</summary>
internal static class Protocols
{
    public const byte Icmp = 1;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Dccp = 33;
    public const byte Gre = 47;
    public const byte IcmpV6 = 58;
    public const byte Sctp = 132;
    public const byte UdpLite = 136;

    public static bool IsIcmp(byte protocol) => protocol is Icmp or IcmpV6;

    /// <summary>Protocols whose tuple carries source and destination ports.</summary>
    public static bool HasPorts(byte protocol) => protocol is Tcp or Udp or Dccp or Sctp or UdpLite;

    /// <summary>ICMP has no ports; like NetFlow, the type and code stand in the destination port.</summary>
    public static ushort IcmpPort(byte type, byte code) => (ushort)((type << 8) | code);

    /// <summary>
    /// The request type an ICMP reply answers (echo, timestamp, information, address mask; ICMPv6 echo), so a
    /// request and its reply describe one connection; other types are returned unchanged.
    /// </summary>
    public static byte RequestType(byte protocol, byte type) => (protocol, type) switch
    {
        (Icmp, 0) => 8,
        (Icmp, 14) => 13,
        (Icmp, 16) => 15,
        (Icmp, 18) => 17,
        (IcmpV6, 129) => 128,
        _ => type,
    };

    /// <summary>Whether <paramref name="type"/> is a reply that <see cref="RequestType"/> maps back.</summary>
    public static bool IsReplyType(byte protocol, byte type) => RequestType(protocol, type) != type;

    /// <summary>Protocol names as conntrack and the canonical format write them (lower case).</summary>
    public static bool TryParseName(ReadOnlySpan<byte> name, out byte protocol)
    {
        protocol = name switch
        {
            _ when name.SequenceEqual("tcp"u8) => Tcp,
            _ when name.SequenceEqual("udp"u8) => Udp,
            _ when name.SequenceEqual("icmp"u8) => Icmp,
            _ when name.SequenceEqual("icmpv6"u8) || name.SequenceEqual("ipv6-icmp"u8) => IcmpV6,
            _ when name.SequenceEqual("sctp"u8) => Sctp,
            _ when name.SequenceEqual("dccp"u8) => Dccp,
            _ when name.SequenceEqual("udplite"u8) => UdpLite,
            _ when name.SequenceEqual("gre"u8) => Gre,
            _ => 0,
        };
        return protocol != 0;
    }
}
