# Sourced by the device scripts: the Vulkan loader from .gl/*.deb where the
# machine has none, the NVIDIA driver's ICD where it is mounted, and wgpu
# on Vulkan.
if ! ldconfig -p | grep -q libvulkan && compgen -G ".gl/*.deb" >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES=$nvidia_icd; fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
