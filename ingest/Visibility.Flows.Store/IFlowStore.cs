namespace Visibility.Flows.Store;

/// <summary>
/// The whole ClickHouse store, whichever transport carries it: what the embedded and server stores implement and
/// the host registers once, each part resolving to that one instance. Consumers take the part they use, so that
/// a decorator of one part wraps only that part. SQL is the same for all transports; values reach the engine only
/// as bound parameters.
/// </summary>
public interface IFlowStore : IFlowWriter, IFlowReader, IFlowCatalog;
