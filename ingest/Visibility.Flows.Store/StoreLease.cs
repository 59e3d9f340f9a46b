using System.Buffers;
using System.Globalization;
using System.Text;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>What a lease looks like from one holder: who holds it, and until when (UTC, by the store's clock).</summary>
public sealed record LeaseState(bool Held, string? Holder, long Term, DateTime? ExpiresAt)
{
    /// <summary>
    /// How long the term still ran when the store was read, by the store's own clock (zero when no term is live).
    /// A holder adds it to its own monotonic clock read before the call to get a deadline that does not depend on
    /// this machine's clock agreeing with the store's (<see cref="ExpiresAt"/> does).
    /// </summary>
    public TimeSpan Remaining { get; init; }
}

/// <summary>
/// A lease in the store, so that one process among several sharing a store does a piece of work (a schema
/// migration, a SIEM export). ClickHouse has no compare-and-set, so the lease is an election over appended claims
/// (<see cref="FlowSchema.LeasesTable"/>): time is cut into terms, each term belongs to whoever claimed it first (the
/// earliest <c>claimed_at</c>, stamped by the server, ties broken by holder name), and a term lasts
/// <see cref="Duration"/> from that first claim. The holder claims the next term halfway through its own, so it keeps
/// the lease while it lives; anyone else claims only once the term has run out, and acts only after reading the
/// claims back <see cref="Settle"/> later, when every competing claim of that term is visible: every claimant then
/// sees the same winner. A claim that takes longer than <see cref="Settle"/> to become visible carries a later time
/// than the winner's (one server's clock, or a cluster's synchronized ones) and cannot win.
/// </summary>
public sealed class StoreLease(IFlowReader reader, IFlowCatalog catalog, string name, string holder, TimeSpan duration)
{
    /// <summary>How long after claiming a term a claimant reads the claims back before acting on them.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    /// <summary>A holder name for this process: host, process id and a random suffix (two stores in one test process differ).</summary>
    public static string ProcessHolder(string role) =>
        $"{role}@{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";

    public string Name { get; } = name;

    public string Holder { get; } = holder;

    public TimeSpan Duration { get; } = duration;

    /// <summary>
    /// Takes the lease if it is free, keeps it if this holder has it (claiming the next term when half of the
    /// current one has passed), and otherwise reports who has it. Waits <see cref="Settle"/> after a claim.
    /// </summary>
    public async Task<LeaseState> TryAcquireAsync(CancellationToken cancellationToken)
    {
        var current = await ReadAsync(cancellationToken);
        var due = current.Term == 0
            || current.Now >= current.Expires
            || current.Winner.Length == 0
            || (current.Winner == Holder && current.Now >= current.Expires - ((long)Duration.TotalMilliseconds / 2));
        if (!due)
        {
            return State(current);
        }

        await ClaimAsync(current.Term + 1, Holder, cancellationToken);
        await Task.Delay(Settle, cancellationToken);
        return State(await ReadAsync(cancellationToken));
    }

    /// <summary>Gives the lease up at once if this holder has it (an empty claim on the next term), so another can take it without waiting for it to run out.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        var current = await ReadAsync(cancellationToken);
        if (current.Winner == Holder && current.Now < current.Expires)
        {
            await ClaimAsync(current.Term + 1, "", cancellationToken);
        }
    }

    /// <summary>The latest term's winner and times as the store sees them now.</summary>
    public async Task<LeaseState> ReadStateAsync(CancellationToken cancellationToken) => State(await ReadAsync(cancellationToken));

    private LeaseState State(Claims claims)
    {
        var live = claims.Term > 0 && claims.Winner.Length > 0 && claims.Now < claims.Expires;
        return new LeaseState(live && claims.Winner == Holder, live ? claims.Winner : null, claims.Term,
            live ? DateTime.UnixEpoch.AddMilliseconds(claims.Expires) : null)
        {
            Remaining = live ? TimeSpan.FromMilliseconds(claims.Expires - claims.Now) : TimeSpan.Zero,
        };
    }

    private async Task<Claims> ReadAsync(CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $$"""
            SELECT term, argMin(holder, (claimed_at, holder)), toUnixTimestamp64Milli(min(claimed_at)), toUnixTimestamp64Milli(now64(3))
            FROM {{FlowSchema.QuoteDatabase(reader.Database)}}.{{FlowSchema.LeasesTable}}
            WHERE name = {name:String}
            GROUP BY term
            ORDER BY term DESC
            LIMIT 1
            """,
            "TabSeparated", static span => Encoding.UTF8.GetString(span), [new QueryParameter("name", Name)], cancellationToken);
        var f = text.TrimEnd('\n').Split('\t');
        if (f.Length < 4)
        {
            // No claim yet: the server's clock is not needed, term 0 is always due.
            return new Claims(0, "", 0, 0);
        }

        long L(int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
        return new Claims(L(0), f[1], L(2) + (long)Duration.TotalMilliseconds, L(3));
    }

    private Task ClaimAsync(long term, string claimant, CancellationToken cancellationToken)
    {
        var row = new ArrayBufferWriter<byte>(64);
        RowBinary.WriteString(row, Name);
        RowBinary.WriteUInt64(row, (ulong)term);
        RowBinary.WriteString(row, claimant);
        return catalog.InsertRowsAsync(
            $"INSERT INTO {FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.LeasesTable} (name, term, holder)", "RowBinary", row.WrittenMemory, cancellationToken);
    }

    /// <summary>The latest term, its winner (empty: released), when it runs out and the server's now (Unix ms).</summary>
    private readonly record struct Claims(long Term, string Winner, long Expires, long Now);
}
