using Visibility.Flows.Model;

namespace Visibility.Flows.Labels;

/// <summary>Checks workload documents and says precisely what is wrong, for API errors and file loading.</summary>
public static class WorkloadValidation
{
    public const int MaxLabelValueLength = 256;

    /// <summary>Returns every problem found, each naming the workload (by index and name) and the field.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<WorkloadSpec?> workloads)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < workloads.Count; i++)
        {
            var w = workloads[i];
            if (w is null)
            {
                problems.Add($"[{i}]: a workload object is required");
                continue;
            }

            var where = $"[{i}] '{w.Name}'";
            if (string.IsNullOrWhiteSpace(w.Name) || w.Name.Length > 256)
            {
                problems.Add($"[{i}]: name is required (1-256 characters)");
            }
            else if (!seen.Add(w.Name))
            {
                problems.Add($"{where}: name appears more than once in this request");
            }

            if (w.Kind is not null && !LabelKeys.Kinds.Contains(w.Kind))
            {
                problems.Add($"{where}: kind '{w.Kind}' is not one of {string.Join(", ", LabelKeys.Kinds.Order())}");
            }

            if (w.Addresses is null || w.Addresses.Count == 0)
            {
                problems.Add($"{where}: addresses must list at least one IP address or CIDR prefix");
            }
            else
            {
                foreach (var address in w.Addresses)
                {
                    if (!Prefix.TryParse(address ?? "", out _, out var error))
                    {
                        problems.Add($"{where}: {error}");
                    }
                }
            }

            foreach (var (key, value) in w.Labels ?? new Dictionary<string, string>())
            {
                if (!LabelKeys.IsValidKey(key))
                {
                    problems.Add($"{where}: label key '{key}' is invalid (a letter, then letters, digits, '_', '.', '-', '/'; at most 63)");
                }

                if (value is null || value.Length > MaxLabelValueLength)
                {
                    problems.Add($"{where}: label '{key}' needs a value of at most {MaxLabelValueLength} characters");
                }
            }
        }

        return problems;
    }
}
