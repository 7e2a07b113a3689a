// The emulator's schedule, for the binding layer (which must not include the kernel shim itself).
#pragma once

namespace hrd {
namespace emu {

enum class Mode { Serial = 0, Shuffle = 1, Threads = 2, Block = 3 };
Mode emu_mode();
void set_emu_mode(Mode m, unsigned seed, int workers);
const char* emu_mode_name(Mode m);

}  // namespace emu
}  // namespace hrd
