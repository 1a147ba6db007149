// Per-thread scratch buffers in aligned native memory for kernel packing (BLIS-style panels), cached for the
// life of the thread so that no kernel call allocates. Each slot grows on demand and is never shrunk.
using Loft.Tensors.Memory;

namespace Loft.Tensors.Threading;

internal static unsafe class ThreadScratch
{
    public const int SlotCount = 6;

    [ThreadStatic] static Slots? t_slots;

    sealed class Slots
    {
        public readonly float*[] Pointers = new float*[SlotCount];
        public readonly nint[] Lengths = new nint[SlotCount];

        // Worker threads live as long as the process and the caller threads usually do; freeing at thread exit
        // needs a finalizer, which keeps memory from leaking when short-lived threads (test runners) use kernels.
        ~Slots()
        {
            for (int i = 0; i < SlotCount; i++)
                if (Pointers[i] != null) LargePageAllocator.Free(Pointers[i]);
        }
    }

    /// <summary>A 64-byte aligned (2 MiB aligned when large) buffer of at least <paramref name="floats"/> floats owned by the calling thread.</summary>
    public static float* Get(int slot, nint floats)
    {
        var s = t_slots ??= new Slots();
        if (s.Lengths[slot] < floats)
        {
            if (s.Pointers[slot] != null) LargePageAllocator.Free(s.Pointers[slot]);
            s.Pointers[slot] = null;
            s.Lengths[slot] = 0;
            s.Pointers[slot] = LargePageAllocator.AllocateFloats(floats, zero: false);
            s.Lengths[slot] = floats;
        }
        return s.Pointers[slot];
    }
}
