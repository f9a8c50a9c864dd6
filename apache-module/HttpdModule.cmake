# forge_add_httpd_module(NAME SOURCES...): an Apache httpd module (NAME.so in
# build/lib) compiled with the flags apxs reports for the installed server
# (`apxs -q CFLAGS`, `INCLUDEDIR`, `EXTRA_CPPFLAGS`) and APR's pkg-config flags.
# Sets FORGE_HTTPD_FOUND; when apxs or APR's dev files are missing it is FALSE
# and FORGE_HTTPD_WHY says why. Used by apache-module/ and by the migration
# guide's native "before" module.
# Included once per directory that builds httpd modules (variables are directory-scoped).

set(FORGE_HTTPD_FOUND FALSE)
find_program(FORGE_APXS NAMES apxs apxs2 PATHS /usr/bin /usr/sbin)
pkg_check_modules(FORGE_APR QUIET apr-1 apr-util-1)
if(NOT FORGE_APXS)
  set(FORGE_HTTPD_WHY "no apxs; apt-get install apache2-dev")
elseif(NOT FORGE_APR_FOUND)
  set(FORGE_HTTPD_WHY "no apr-1/apr-util-1 pkg-config files; apt-get install apache2-dev")
else()
  set(FORGE_HTTPD_FOUND TRUE)
  foreach(q INCLUDEDIR CFLAGS EXTRA_CPPFLAGS)
    execute_process(COMMAND ${FORGE_APXS} -q ${q} OUTPUT_VARIABLE FORGE_APXS_${q}
                    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE apxs_rc)
    if(NOT apxs_rc EQUAL 0)
      set(FORGE_HTTPD_FOUND FALSE)
      set(FORGE_HTTPD_WHY "`${FORGE_APXS} -q ${q}` failed")
    endif()
  endforeach()
  separate_arguments(FORGE_APXS_CFLAGS_LIST UNIX_COMMAND "${FORGE_APXS_CFLAGS}")
  separate_arguments(FORGE_APXS_CPPFLAGS_LIST UNIX_COMMAND "${FORGE_APXS_EXTRA_CPPFLAGS}")
endif()

# No "lib" prefix; httpd's headers as system headers (their warnings are not
# ours); httpd's and APR's symbols are resolved by the server at load.
function(forge_add_httpd_module name)
  add_library(${name} MODULE ${ARGN})
  set_target_properties(${name} PROPERTIES PREFIX "")
  target_include_directories(${name} SYSTEM PRIVATE ${FORGE_APXS_INCLUDEDIR} ${FORGE_APR_INCLUDE_DIRS})
  target_compile_options(${name} PRIVATE ${FORGE_APXS_CFLAGS_LIST} ${FORGE_APXS_CPPFLAGS_LIST}
                         ${FORGE_APR_CFLAGS_OTHER})
endfunction()
