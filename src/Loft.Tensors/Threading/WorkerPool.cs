// A fixed pool of worker threads for kernel outer loops: threads are created once, work is a struct
// operation passed by reference (no closures, no per-call allocation). [0, count) is cut into a few contiguous
// disjoint ranges per thread which the caller and the workers claim; the caller claims too, so a worker that the
// OS has not scheduled yet never stalls a loop (it finds nothing left). Nested or concurrent
// calls run inline.
using System.Runtime.CompilerServices;

namespace Loft.Tensors.Threading;

/// <summary>A unit of parallel work: processes items [start, end). Implemented by small structs in the kernels.</summary>
public interface IParallelOp
{
    void Execute(int start, int end);
}

public sealed unsafe class WorkerPool : IDisposable
{
    static volatile WorkerPool s_shared = new(Environment.ProcessorCount);
    static readonly object s_setLock = new();

    /// <summary>The pool the kernels use. Replaced by <see cref="SetThreadCount"/>.</summary>
    public static WorkerPool Shared => s_shared;

    /// <summary>Sets the number of threads of <see cref="Shared"/> (the CLI's --threads); 1 runs everything inline.</summary>
    public static void SetThreadCount(int threads)
    {
        if (threads < 1)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "thread count must be at least 1");
        lock (s_setLock)
        {
            var old = s_shared;
            if (old.ThreadCount == threads) return;
            s_shared = new WorkerPool(threads);
            old.Dispose();
        }
    }

    sealed class Worker
    {
        public required Thread Thread;
        public readonly SemaphoreSlim Wake = new(0);
        public int Sleeping;          // 1 while the worker is (about to be) blocked on Wake
    }

    readonly Worker[] _workers;      // ThreadCount - 1 workers; the caller is the first claimant
    int _busy;                       // 1 while a For is running (guards re-entrancy and concurrent callers)
    volatile bool _disposed;
    long _generation;                // bumped per loop; workers wake on a change

    // The current loop. _claim = (job id << 32) | (range count << 16) | next range index, published after the
    // fields below; a range is claimed by a successful CAS on the whole word, which can only succeed while the
    // job is current, and the caller returns only after every range is done, so a claimant may read the fields
    // until it reports its range done.
    delegate*<void*, int, int, void> _fn;
    void* _op;
    int _count;
    long _claim;
    const int MaxRanges = 0xFFFF;
    int _done;
    Exception? _error;

    /// <summary>Ranges per thread of a loop unless the caller says otherwise.</summary>
    public const int DefaultRangesPerThread = 4;

    /// <summary>Total threads that run a parallel loop, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>Creates a pool of <paramref name="threads"/> threads (the calling thread counts as one).</summary>
    public WorkerPool(int threads)
    {
        if (threads < 1)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "thread count must be at least 1");
        ThreadCount = threads;
        _workers = new Worker[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            var w = new Worker { Thread = new Thread(WorkerLoop) { IsBackground = true, Name = $"loft-worker-{i + 1}" } };
            _workers[i] = w;
        }
        for (int i = 0; i < _workers.Length; i++) _workers[i].Thread.Start(_workers[i]);
    }

    /// <summary>
    /// Runs <c>op.Execute</c> over [0, count) split into at most ThreadCount × <paramref name="rangesPerThread"/>
    /// contiguous disjoint ranges of at least <paramref name="minPerThread"/> items; runs inline when there is too
    /// little work for two ranges. Returns when every range is done. An exception thrown by a range is rethrown here.
    /// Several ranges per thread (the default, 4) balance the load: a thread that runs late (preempted, or slowed by a
    /// neighbour on a shared host) leaves its unclaimed ranges to the others instead of making them wait. With one
    /// range per thread, a 15M training step spent 16 to 38 ms of its 600 waiting at the ends of loops. Pass 1 where
    /// each range repeats costly setup.
    /// </summary>
    public void For<TOp>(int count, ref TOp op, int minPerThread = 1, int rangesPerThread = DefaultRangesPerThread) where TOp : struct, IParallelOp, allows ref struct
    {
        if (count <= 0) return;
        if (minPerThread < 1) minPerThread = 1;
        int chunks = (int)Math.Min(Math.Min((long)ThreadCount * Math.Max(1, rangesPerThread), count / minPerThread), MaxRanges);
        if (chunks <= 1 || _disposed || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            op.Execute(0, count);
            return;
        }
        try
        {
            _fn = &Invoke<TOp>;
            _op = Unsafe.AsPointer(ref op);
            _count = count;
            _error = null;
            Volatile.Write(ref _done, 0);
            long job = (Volatile.Read(ref _claim) >> 32) + 1;
            Volatile.Write(ref _claim, (job << 32) | ((long)chunks << 16));
            Interlocked.Increment(ref _generation);
            for (int i = 0; i < Math.Min(_workers.Length, chunks - 1); i++)
            {
                var w = _workers[i];
                if (Interlocked.Exchange(ref w.Sleeping, 0) == 1) w.Wake.Release();
            }
            RunClaims();
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) != chunks) spin.SpinOnce(sleep1Threshold: -1);
            _op = null;
            if (_error is { } error)
            {
                _error = null;
                throw new AggregateException("a parallel kernel range failed", error);
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    static void Invoke<TOp>(void* op, int start, int end) where TOp : struct, IParallelOp, allows ref struct
        => Unsafe.AsRef<TOp>(op).Execute(start, end);

    /// <summary>Claims and runs ranges of the current loop until none is left.</summary>
    void RunClaims()
    {
        while (true)
        {
            long c = Volatile.Read(ref _claim);
            int chunks = (int)((c >> 16) & MaxRanges), index = (int)(c & MaxRanges);
            if (index >= chunks) return;
            if (Interlocked.CompareExchange(ref _claim, c + 1, c) != c) continue;
            // Claimed: the loop cannot finish before this range is done, so its fields are stable.
            int count = _count;
            int start = (int)((long)count * index / chunks), end = (int)((long)count * (index + 1) / chunks);
            try { _fn(_op, start, end); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            Interlocked.Increment(ref _done);
        }
    }

    void WorkerLoop(object? state)
    {
        var w = (Worker)state!;
        long seen = Volatile.Read(ref _generation);
        while (true)
        {
            // Spin briefly (kernels come back to back during decode), then block.
            int spins = 0;
            long gen;
            while ((gen = Volatile.Read(ref _generation)) == seen)
            {
                if (_disposed) return;
                if (++spins < 2000) { Thread.SpinWait(20); continue; }
                Interlocked.Exchange(ref w.Sleeping, 1);
                if (Volatile.Read(ref _generation) != seen || _disposed)
                {
                    // Work arrived (or shutdown) between the spin and the sleep: whoever clears the flag first wins;
                    // if the caller cleared it, it has released the semaphore and the release must be consumed.
                    if (Interlocked.Exchange(ref w.Sleeping, 0) == 0) w.Wake.Wait();
                }
                else
                {
                    w.Wake.Wait();
                }
                spins = 0;
            }
            seen = gen;
            RunClaims();
        }
    }

    /// <summary>Stops the worker threads (after any running loop). Later calls to For run inline.</summary>
    public void Dispose()
    {
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) spin.SpinOnce();
        try
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var w in _workers)
                if (Interlocked.Exchange(ref w.Sleeping, 0) == 1) w.Wake.Release();
        }
        finally { Volatile.Write(ref _busy, 0); }
    }
}
