using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

public sealed class FilterErrorTests
{
    [Theory]
    [InlineData("src.env =", "position 10: expected a value after '=', found end of input")]
    [InlineData("src.env = prod and x =", "position 23: expected a value after '=', found end of input")]
    [InlineData("srcc.env = prod", "position 1: unknown field 'srcc.env' (expected src.<key>, dst.<key>, port, proto, finding, verdict, policy, ip or a label key)")]
    [InlineData("env = prod and", "position 15: expected a field, 'not' or '(', found end of input")]
    [InlineData("(env = prod", "position 12: expected 'and', 'or' or ')' to close the '(' at position 1, found end of input")]
    [InlineData("env = prod)", "position 11: expected 'and', 'or' or end of input, found ')'")]
    [InlineData("env = prod dev", "position 12: expected 'and', 'or' or end of input, found 'dev'")]
    [InlineData("port = 70000", "position 8: invalid port '70000' (expected a number 0-65535)")]
    [InlineData("env < 3", "position 5: operator '<' applies only to ports, not to 'env'")]
    [InlineData("env prod", "position 5: expected an operator (=, !=, in or not in) after 'env', found 'prod'")]
    [InlineData("port 80", "position 6: expected an operator (=, !=, <, <=, >, >=, in or not in) after 'port', found '80'")]
    [InlineData("src.ip = 10.1.2.3/8", "position 10: invalid CIDR '10.1.2.3/8': bits are set after the /8 prefix (the network is 10.0.0.0/8)")]
    [InlineData("src.ip = 10.1", "position 10: invalid address '10.1' (expected an IPv4 or IPv6 address or CIDR such as 10.0.0.0/8 or 2001:db8::/32)")]
    [InlineData("src.ip = 10.0.0.0/33", "position 10: invalid prefix length in '10.0.0.0/33' (expected /0 to /32)")]
    [InlineData("env = 'abc", "position 7: unterminated string: expected a closing ' for the ' here, found end of input")]
    [InlineData("env = \"a\\n\"", "position 9: invalid escape in string: '\\' followed by 'n' (only \\\\, \\\" and \\' are escapes)")]
    [InlineData("env = pay*", "position 10: unexpected character '*'")]
    [InlineData("env = é", "position 7: unexpected character U+00E9")]
    [InlineData("env ! prod", "position 5: expected '!=', found '!' alone")]
    [InlineData("env not = x", "position 9: expected 'in' after 'not', found '='")]
    [InlineData("env in ()", "position 9: expected a value in the list, found ')'")]
    [InlineData("env in (a,)", "position 11: expected a value in the list, found ')'")]
    [InlineData("env in (a b)", "position 11: expected ',' or ')' in the list, found 'b'")]
    [InlineData("env in", "position 7: expected a value or '(' after 'in', found end of input")]
    [InlineData("src.proto = tcp", "position 1: 'proto' belongs to the flow, not to one end: write 'proto', not 'src.proto'")]
    [InlineData("src.9x = a", "position 1: invalid label key '9x' in 'src.9x' (a letter, then letters, digits, '_', '.', '-', '/'; at most 63 characters)")]
    [InlineData("finding = bad", "position 11: unknown finding 'bad' (expected cross_env, unknown_source, internet_source, new_edge, policy_violation or blocked_attempts)")]
    [InlineData("verdict = dropped", "position 11: unknown verdict 'dropped' (expected allowed or blocked)")]
    [InlineData("src.verdict = blocked", "position 1: 'verdict' belongs to the flow, not to one end: write 'verdict', not 'src.verdict'")]
    [InlineData("dst.policy = x", "position 1: 'policy' belongs to the flow, not to one end: write 'policy', not 'dst.policy'")]
    [InlineData("policy < 3", "position 8: operator '<' applies only to ports, not to 'policy'")]
    [InlineData("kind = box", "position 8: unknown kind 'box' (expected host, vm, pod, service, network, unknown or internet)")]
    [InlineData("proto = 256", "position 9: invalid protocol '256' (expected tcp, udp, icmp, icmpv6, sctp or a number 0-255)")]
    [InlineData("env = and", "position 7: expected a value after '=', found 'and'")]
    [InlineData("and = x", "position 1: expected a field, 'not' or '(', found 'and'")]
    [InlineData("\"env\" = x", "position 1: expected a field, 'not' or '(', found '\"env\"'")]
    public void Parse_Malformed_ReportsPositionAndExpectation(string text, string message)
    {
        var result = FilterParser.Parse(text);

        Assert.False(result.IsSuccess);
        Assert.Null(result.Filter);
        Assert.Equal(message, result.Error.Message);
    }

    [Theory]
    [InlineData("=", 1)]
    [InlineData("(", 2)]
    [InlineData(")", 1)]
    [InlineData("env = (a)", 7)]
    [InlineData("env == a", 6)]
    [InlineData("env = a or or b = c", 12)]
    [InlineData("env = a and (b = c or d = e", 28)]
    [InlineData("not", 4)]
    [InlineData("not not (", 10)]
    [InlineData("port in (80, http)", 14)]
    [InlineData("port = -1", 8)]
    [InlineData("port = 0x50", 8)]
    [InlineData("port >= \"a\"", 9)]
    [InlineData("proto < 6", 7)]
    [InlineData("finding in (cross_env, nope)", 24)]
    [InlineData("src.ip = fe80::1%eth0", 17)]
    [InlineData("src.ip = \"fe80::1%eth0\"", 10)]
    [InlineData("src.ip = 010.0.0.1", 10)]
    [InlineData("src.ip = 10.0.0.256", 10)]
    [InlineData("src.ip = 2001:db8::/129", 10)]
    [InlineData("src.ip = 2001:db8::1/64", 10)]
    [InlineData("ip < 10.0.0.1", 4)]
    [InlineData("src. = a", 1)]
    [InlineData("src.finding = cross_env", 1)]
    [InlineData("Src.env = a", 1)]
    [InlineData("env = 'a\\", 9)]
    [InlineData("env = \"a", 7)]
    [InlineData("env = a\0", 8)]
    [InlineData("env = a;", 8)]
    [InlineData("env = a -- comment", 9)]
    [InlineData("a = 1 a = 2", 7)]
    [InlineData("in in (a)", 1)]
    [InlineData("env in (a, b", 13)]
    public void Parse_Malformed_ReportsPosition(string text, int position)
    {
        var result = FilterParser.Parse(text);

        Assert.False(result.IsSuccess, $"{text} parsed as {result.Filter}");
        Assert.StartsWith($"position {position}: ", result.Error.Message, StringComparison.Ordinal);
        Assert.Equal(position, result.Error.Position);
    }

    [Fact]
    public void Parse_NestingAtLimit_Parses_AndOneDeeper_IsRefused()
    {
        var atLimit = new string('(', FilterParser.MaxDepth) + "a = 1" + new string(')', FilterParser.MaxDepth);
        var deeper = new string('(', FilterParser.MaxDepth + 1) + "a = 1" + new string(')', FilterParser.MaxDepth + 1);
        var nots = string.Concat(Enumerable.Repeat("not ", FilterParser.MaxDepth + 1)) + "a = 1";

        Assert.True(FilterParser.Parse(atLimit).IsSuccess);
        Assert.Equal($"position 33: filter nests deeper than 32 levels of parentheses and 'not'", FilterParser.Parse(deeper).Error?.Message);
        Assert.Equal($"position 129: filter nests deeper than 32 levels of parentheses and 'not'", FilterParser.Parse(nots).Error?.Message);
    }

    [Fact]
    public void Parse_DeepNestingToTheLengthLimit_IsRefusedWithoutRecursingFurther()
    {
        var text = new string('(', FilterParser.MaxLength);

        var result = FilterParser.Parse(text);

        Assert.Equal(FilterParser.MaxDepth + 1, result.Error?.Position);
    }

    [Fact]
    public void Parse_LengthAtLimit_Parses_AndOneLonger_IsRefused()
    {
        var value = new string('v', FilterParser.MaxLength - "env = ".Length);

        Assert.True(FilterParser.Parse("env = " + value).IsSuccess);
        Assert.Equal("position 4097: filter is longer than 4096 characters", FilterParser.Parse("env = " + value + "v").Error?.Message);
    }

    [Fact]
    public void Parse_ComparisonsAtLimit_Parse_AndOneMore_IsRefused()
    {
        var atLimit = string.Join(" or ", Enumerable.Repeat("a=1", FilterParser.MaxComparisons));
        var over = atLimit + " or b=1";

        Assert.True(FilterParser.Parse(atLimit).IsSuccess);
        var error = FilterParser.Parse(over).Error;
        Assert.Equal($"position {atLimit.Length + 5}: filter has more than 256 comparisons", error?.Message);
    }

    [Fact]
    public void Parse_ListAtLimit_Parses_AndOneMore_IsRefused()
    {
        var atLimit = "a in (" + string.Join(",", Enumerable.Repeat("v", FilterParser.MaxListValues)) + ")";
        var over = "a in (" + string.Join(",", Enumerable.Repeat("v", FilterParser.MaxListValues + 1)) + ")";

        Assert.Equal(FilterParser.MaxListValues, ((ComparisonFilter)FilterParser.Parse(atLimit).Filter!).Values.Count);
        Assert.Equal($"position {6 + (2 * FilterParser.MaxListValues) + 1}: a list has more than 1024 values", FilterParser.Parse(over).Error?.Message);
    }
}
