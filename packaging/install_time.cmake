# Run by `cmake --install` and by cpack (packaging/CMakeLists.txt): the files whose place or
# content depends on the prefix chosen then. Prefix /usr (the package): /etc/claimgate and
# /usr/lib/systemd/system; any other prefix: <prefix>/etc/claimgate and
# <prefix>/lib/systemd/system, so that a trial install never writes outside its prefix.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(CG_ETC "/etc")
else()
  set(CG_ETC "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(CG_BIN "${CMAKE_INSTALL_PREFIX}/${CG_BINDIR}")
set(CG_DOC "${CMAKE_INSTALL_PREFIX}/${CG_DOCDIR}")
set(CG_CONFIG "${CG_ETC}/claimgate/claimgate.yaml")

# The default config: a conffile (dpkg keeps the operator's edits on upgrade).
file(INSTALL DESTINATION "${CG_ETC}/claimgate" TYPE FILE FILES "${CG_PACKAGING_DIR}/claimgate.yaml")

# The systemd units, naming the binary and the config where they were installed.
set(units claimgate.service claimgate-keys.service claimgate-keys.timer)
set(unit_files "")
foreach(u IN LISTS units)
  if(EXISTS "${CG_PACKAGING_DIR}/systemd/${u}.in")
    configure_file("${CG_PACKAGING_DIR}/systemd/${u}.in" "${CG_PACKAGING_BUILD_DIR}/systemd/${u}" @ONLY)
    list(APPEND unit_files "${CG_PACKAGING_BUILD_DIR}/systemd/${u}")
  endif()
endforeach()
if(unit_files)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE FILES ${unit_files})
endif()
