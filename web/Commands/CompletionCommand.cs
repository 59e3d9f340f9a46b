using System.CommandLine;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility completion bash</c>: a bash completion function that asks the program itself, through
/// System.CommandLine's <c>[suggest:POSITION]</c> directive, for the verbs, options and values that fit the words
/// typed so far; so completion knows every verb and option as defined. Enable it with
/// <c>source &lt;(visibility completion bash)</c> (README, "Command line").
/// </summary>
public static class CompletionCommand
{
    /// <summary>The script; it completes the command named <c>visibility</c> (on the PATH, as the .NET tool installs it).</summary>
    public const string BashScript = """
        # bash completion for visibility: the program answers through System.CommandLine's [suggest] directive.
        _visibility_complete()
        {
            local IFS=$'\n'
            local candidates
            candidates=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)
            COMPREPLY=( $(compgen -W "${candidates}" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _visibility_complete visibility
        """;

    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "the shell (bash; zsh can load it after `autoload bashcompinit && bashcompinit`)", DefaultValueFactory = _ => "bash" };
        shell.AcceptOnlyFromAmong("bash");
        var command = new Command("completion", "prints the shell completion script: source <(visibility completion bash)");
        command.Arguments.Add(shell);
        command.SetAction(_ =>
        {
            Console.Out.Write(BashScript + "\n");
            return ExitCodes.Ok;
        });
        return command;
    }
}
