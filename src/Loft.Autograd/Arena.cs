// Activation memory reused across training steps: buffers are handed out in order and Reset() rewinds,
// so a step with the same shapes as the last one takes back the same arrays and allocates nothing.
namespace Loft.Autograd;

public sealed class Arena
{
    readonly List<float[]> _slots = [];
    int _next;

    /// <summary>Floats allocated so far over the arena's lifetime (constant in steady state).</summary>
    public long AllocatedFloats { get; private set; }

    /// <summary>Number of buffers handed out since the last <see cref="Reset"/>.</summary>
    public int InUse => _next;

    /// <summary>A zeroed buffer of <paramref name="length"/> floats, valid until the next <see cref="Reset"/>.</summary>
    public Memory<float> Rent(int length) => Rent(length, clear: true);

    /// <summary>A buffer of <paramref name="length"/> floats, zeroed only when <paramref name="clear"/> (else it holds
    /// stale values: for outputs the caller overwrites whole), valid until the next <see cref="Reset"/>.</summary>
    public Memory<float> Rent(int length, bool clear)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "buffer length must be >= 0");
        if (_next == _slots.Count)
        {
            _slots.Add(new float[length]);
            AllocatedFloats += length;
        }
        else if (_slots[_next].Length < length)
        {
            _slots[_next] = new float[length];
            AllocatedFloats += length;
        }
        var mem = _slots[_next++].AsMemory(0, length);
        if (clear) Loft.Tensors.Kernels.Elementwise.Clear(mem.Span);
        return mem;
    }

    /// <summary>Makes every buffer available again (the previous step's activations become invalid).</summary>
    public void Reset() => _next = 0;
}
