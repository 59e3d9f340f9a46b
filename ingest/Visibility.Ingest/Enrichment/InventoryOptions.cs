namespace Visibility.Ingest.Enrichment;

/// <summary>Configuration section <c>Visibility:Inventory</c>.</summary>
public sealed class InventoryOptions
{
    public const string Section = "Visibility:Inventory";

    /// <summary>A JSON file with an array of workloads, loaded at start; empty for none.</summary>
    public string? Path { get; set; }

    /// <summary>Prefixes counted as internal besides the private ranges: their unowned peers are <c>unknown</c>, not <c>internet</c>.</summary>
    public IList<string> InternalNetworks { get; } = [];
}
