namespace Visibility.Ingest.Decoding;

/// <summary>What <see cref="XmlScanner.Next"/> found.</summary>
internal enum XmlNode
{
    EndOfInput,
    StartTag,
    EndTag,
    EmptyTag,
    Text,
    Declaration,
    Forbidden,
    Malformed,
}

/// <summary>
/// A pull scanner over one message: tags with their attribute text, and text between tags. It knows no DTDs,
/// entities or namespaces; a <c>&lt;!</c> construct is reported as <see cref="XmlNode.Forbidden"/>.
/// </summary>
internal ref struct XmlScanner(ReadOnlySpan<byte> text)
{
    private readonly ReadOnlySpan<byte> text = text;
    private int position;

    /// <summary>Where the last tag's name starts in the message.</summary>
    public int NameOffset { get; private set; }

    public readonly ReadOnlySpan<byte> Slice(int start, int length) => text.Slice(start, length);

    /// <summary>The next node; for tags <paramref name="name"/> is the tag name, for text it is the text.</summary>
    public XmlNode Next(out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> attributes)
    {
        name = default;
        attributes = default;
        if (position >= text.Length)
        {
            return XmlNode.EndOfInput;
        }

        if (text[position] != '<')
        {
            var end = text[position..].IndexOf((byte)'<');
            end = end < 0 ? text.Length : position + end;
            name = text[position..end];
            position = end;
            return XmlNode.Text;
        }

        var rest = text[(position + 1)..];
        if (rest.IsEmpty)
        {
            return XmlNode.Malformed;
        }

        if (rest[0] == '!')
        {
            return XmlNode.Forbidden;
        }

        if (rest[0] == '?')
        {
            var close = rest.IndexOf("?>"u8);
            if (close < 0)
            {
                return XmlNode.Malformed;
            }

            position += 1 + close + 2;
            return XmlNode.Declaration;
        }

        var closing = rest[0] == '/';
        var nameStart = closing ? 1 : 0;
        var nameEnd = nameStart;
        while (nameEnd < rest.Length && IsNameChar(rest[nameEnd]))
        {
            nameEnd++;
        }

        if (nameEnd == nameStart)
        {
            return XmlNode.Malformed;
        }

        // Find the tag's end outside quoted attribute values.
        var i = nameEnd;
        byte quote = 0;
        while (i < rest.Length && (quote != 0 || rest[i] != '>'))
        {
            if (quote != 0)
            {
                quote = rest[i] == quote ? (byte)0 : quote;
            }
            else if (rest[i] is (byte)'"' or (byte)'\'')
            {
                quote = rest[i];
            }
            else if (rest[i] == '<')
            {
                return XmlNode.Malformed;
            }

            i++;
        }

        if (i == rest.Length)
        {
            return XmlNode.Malformed;
        }

        name = rest[nameStart..nameEnd];
        NameOffset = position + 1 + nameStart;
        var inner = rest[nameEnd..i];
        position += 1 + i + 1;
        if (closing)
        {
            return TextParsing.Trim(inner).IsEmpty ? XmlNode.EndTag : XmlNode.Malformed;
        }

        if (!inner.IsEmpty && inner[^1] == '/')
        {
            attributes = inner[..^1];
            return XmlNode.EmptyTag;
        }

        if (!inner.IsEmpty && !TextParsing.IsSpace(inner[0]))
        {
            return XmlNode.Malformed;
        }

        attributes = inner;
        return XmlNode.StartTag;
    }

    /// <summary>The value of <c>name="value"</c> (or single-quoted) in a tag's attribute text.</summary>
    public static bool TryGetAttribute(ReadOnlySpan<byte> attributes, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        var position = 0;
        while (true)
        {
            while (position < attributes.Length && TextParsing.IsSpace(attributes[position]))
            {
                position++;
            }

            var start = position;
            while (position < attributes.Length && IsNameChar(attributes[position]))
            {
                position++;
            }

            var attributeName = attributes[start..position];
            if (attributeName.IsEmpty || position + 1 >= attributes.Length || attributes[position] != '='
                || attributes[position + 1] is not ((byte)'"' or (byte)'\''))
            {
                value = default;
                return false;
            }

            var quote = attributes[position + 1];
            var valueStart = position + 2;
            var length = attributes[valueStart..].IndexOf(quote);
            if (length < 0)
            {
                value = default;
                return false;
            }

            if (attributeName.SequenceEqual(name))
            {
                value = attributes.Slice(valueStart, length);
                return true;
            }

            position = valueStart + length + 1;
        }
    }

    private static bool IsNameChar(byte c) =>
        char.IsAsciiLetterOrDigit((char)c) || c is (byte)'_' or (byte)'-' or (byte)'.' or (byte)':';
}
