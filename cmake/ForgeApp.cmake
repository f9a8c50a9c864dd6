# forge_add_app(NAME SOURCES...): builds a Forge app as build/lib/NAME.so,
# loadable by every host binding.
function(forge_add_app name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    BUILD_RPATH "$ORIGIN" INSTALL_RPATH "$ORIGIN")
  target_link_libraries(${name} PRIVATE forge-core)
endfunction()
