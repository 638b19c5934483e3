/* channels.c: Harmony output messages by destination (see channels.h). */
#include "harmony/channels.h"

#include <string.h>

#define FUNCTIONS_PREFIX "functions."

const char *hm_out_function_name(const char *recipient)
{
    size_t k = strlen(FUNCTIONS_PREFIX);
    if (!recipient || strncmp(recipient, FUNCTIONS_PREFIX, k) != 0 || recipient[k] == '\0')
        return NULL;
    return recipient + k;
}

hm_out_kind hm_out_classify(const char *channel, const char *recipient)
{
    if (hm_out_function_name(recipient)) return HM_OUT_CALL;
    if (channel && strcmp(channel, "analysis") == 0) return HM_OUT_REASONING;
    if (channel && strcmp(channel, "commentary") == 0 && recipient) return HM_OUT_REASONING;
    return HM_OUT_TEXT;
}
