# Freeze rtc_micro and the board profiles into MicroPython firmware (paths relative to this file).
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/rtc_micro/firmware/manifest.py
# (esp32 and rp2 are CMake ports; the Makefile wrapper passes FROZEN_MANIFEST through).
# Frozen bytecode runs from flash: the heap keeps only live objects, which is what makes the
# esp32 profile's ~110 KB budget workable.
include("$(PORT_DIR)/boards/manifest.py")
package("rtc_micro", base_path="..", opt=3)
package("boards", base_path="..", opt=3)
