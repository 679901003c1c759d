/* netcfg.c - network configuration validation (see netcfg.h); mirrors
 * e2b-dev/infra's validateNetworkConfig / validateEgressRules /
 * validateNetworkRules and its error messages. */
#include "netcfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_TRAFFIC "0.0.0.0/0"
#define MAX_RULE_DOMAINS 10
#define MAX_RULES_PER_DOMAIN 1
#define MAX_RULE_DOMAIN_LEN 128
#define MAX_HEADERS_PER_RULE 20
#define MAX_HEADER_NAME_LEN 64
#define MAX_HEADER_VALUE_LEN 2048

/* Parses an IP address or CIDR (Go's net.ParseIP / net.ParseCIDR);
 * *unspecified tells whether the address part is 0.0.0.0 or ::. */
static bool parse_ip_or_cidr(const char *s, bool *unspecified)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof ip)
        return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    unsigned char a[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, a) != 1)
        return false;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return false;
        for (const char *q = p; *q; q++)
            if (!isdigit((unsigned char)*q))
                return false;
        if (p[0] == '0' && p[1]) /* Go rejects leading zeros */
            return false;
        int bits = atoi(p);
        if (bits > (family == AF_INET ? 32 : 128))
            return false;
    }
    size_t len = family == AF_INET ? 4 : 16;
    *unspecified = true;
    for (size_t i = 0; i < len; i++)
        if (a[i])
            *unspecified = false;
    return true;
}

/* sandbox_network.IsSpecifiedIPOrCIDR. */
static bool specified_ip_or_cidr(const char *s)
{
    bool unspec;
    if (!parse_ip_or_cidr(s, &unspec))
        return false;
    return strcmp(s, ALL_TRAFFIC) == 0 || !unspec;
}

/* An array of strings (or absent/null). */
static bool string_array_ok(json_t *v)
{
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_string(x)) return false;
    return true;
}

/* validateEgressRules. */
static int check_egress(json_t *allow, json_t *deny, char *msg, size_t msgsz)
{
    size_t i;
    json_t *x;
    bool block_all = false;
    json_array_foreach(deny, i, x) {
        const char *s = json_string_value(x);
        if (!specified_ip_or_cidr(s)) {
            snprintf(msg, msgsz, "invalid denied CIDR %s", s);
            return 400;
        }
        if (strcmp(s, ALL_TRAFFIC) == 0)
            block_all = true;
    }
    bool domains = false;
    json_array_foreach(allow, i, x) {
        const char *s = json_string_value(x);
        bool unspec;
        if (!parse_ip_or_cidr(s, &unspec)) {
            domains = true;
            continue;
        }
        if (!specified_ip_or_cidr(s)) {
            snprintf(msg, msgsz, "invalid allowed address %s", s);
            return 400;
        }
    }
    if (domains && !block_all) {
        snprintf(msg, msgsz, "When specifying allowed domains in allow out, you must include "
                             "'ALL_TRAFFIC' in deny out to block all other traffic.");
        return 400;
    }
    return 0;
}

/* govalidator.IsDNSName: labels of [A-Za-z0-9_-] (not starting with '-'),
 * at most 63 characters, 255 in all, not an IP address. */
static bool dns_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    bool unspec;
    if (parse_ip_or_cidr(s, &unspec) && !strchr(s, '/'))
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false; /* empty label */
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)c) || c == '_' || (c == '-' && label > 0)))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

/* An HTTP token (header field name). */
static bool header_name_ok(const char *s)
{
    static const char *const extra = "!#$%&'*+-.^_`|~";
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isalnum(*p) && !strchr(extra, *p))
            return false;
    return true;
}

/* httpguts.ValidHeaderFieldValue: no control characters but tab. */
static bool header_value_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* validateNetworkRules; *out gets the rules as E2B stores them
 * ({domain: [{transform?: {headers?}}]}). */
static int check_rules(json_t *rules, json_t **out, char *msg, size_t msgsz)
{
    *out = NULL;
    if (!rules || json_is_null(rules))
        return 0;
    if (!json_is_object(rules)) {
        snprintf(msg, msgsz, "Error when parsing request: network.rules must be an object");
        return 400;
    }
    if (json_object_size(rules) > MAX_RULE_DOMAINS) {
        snprintf(msg, msgsz, "Network rules can have at most %d domains.", MAX_RULE_DOMAINS);
        return 400;
    }
    json_t *norm = json_object();
    const char *domain;
    json_t *list;
    json_object_foreach(rules, domain, list) {
        int st = 400;
        if (!json_is_array(list)) {
            snprintf(msg, msgsz, "Error when parsing request: rules of \"%s\" must be an array", domain);
        } else if (!domain[0]) {
            snprintf(msg, msgsz, "Rule domain must not be empty.");
        } else if (strlen(domain) > MAX_RULE_DOMAIN_LEN) {
            snprintf(msg, msgsz, "Rule domain \"%s\" exceeds maximum length of %d characters.",
                     domain, MAX_RULE_DOMAIN_LEN);
        } else if (!dns_name(domain)) {
            snprintf(msg, msgsz, "Rule domain \"%s\" is not a valid domain name.", domain);
        } else if (json_array_size(list) > MAX_RULES_PER_DOMAIN) {
            snprintf(msg, msgsz, "Domain \"%s\" can have at most %d transform rule.", domain,
                     MAX_RULES_PER_DOMAIN);
        } else {
            st = 0;
        }
        json_t *nl = json_array();
        size_t i;
        json_t *rule;
        json_array_foreach(list, i, rule) {
            if (st)
                break;
            json_t *nr = json_object();
            json_array_append_new(nl, nr);
            json_t *tr = json_is_object(rule) ? json_object_get(rule, "transform") : NULL;
            if (!json_is_object(rule) || (tr && !json_is_null(tr) && !json_is_object(tr))) {
                snprintf(msg, msgsz, "Error when parsing request: invalid rule for \"%s\"", domain);
                st = 400;
                break;
            }
            if (!tr || json_is_null(tr))
                continue;
            json_t *ntr = json_object();
            json_object_set_new(nr, "transform", ntr);
            json_t *hs = json_object_get(tr, "headers");
            if (!hs || json_is_null(hs))
                continue;
            if (!json_is_object(hs)) {
                snprintf(msg, msgsz, "Error when parsing request: headers must be an object");
                st = 400;
                break;
            }
            if (json_object_size(hs) > MAX_HEADERS_PER_RULE) {
                snprintf(msg, msgsz, "Domain \"%s\" can have at most %d headers per rule.", domain,
                         MAX_HEADERS_PER_RULE);
                st = 400;
                break;
            }
            const char *name;
            json_t *val;
            json_object_foreach(hs, name, val) {
                const char *v = json_string_value(val);
                if (!v)
                    snprintf(msg, msgsz, "Error when parsing request: header values must be strings");
                else if (!name[0])
                    snprintf(msg, msgsz, "Header name in rule for domain \"%s\" must not be empty.", domain);
                else if (!header_name_ok(name))
                    snprintf(msg, msgsz, "Header name \"%s\" in rule for domain \"%s\" must contain only valid HTTP token characters.", name, domain);
                else if (strlen(name) > MAX_HEADER_NAME_LEN)
                    snprintf(msg, msgsz, "Header name \"%s\" in rule for domain \"%s\" exceeds maximum length of %d characters.", name, domain, MAX_HEADER_NAME_LEN);
                else if (!header_value_ok(v))
                    snprintf(msg, msgsz, "Value for header \"%s\" in rule for domain \"%s\" contains invalid characters.", name, domain);
                else if (strlen(v) > MAX_HEADER_VALUE_LEN)
                    snprintf(msg, msgsz, "Value for header \"%s\" in rule for domain \"%s\" exceeds maximum length of %d characters.", name, domain, MAX_HEADER_VALUE_LEN);
                else
                    continue;
                st = 400;
                break;
            }
            if (st)
                break;
            json_object_set(ntr, "headers", hs);
        }
        json_object_set_new(norm, domain, nl);
        if (st) {
            json_decref(norm);
            return st;
        }
    }
    *out = norm;
    return 0;
}

/* The egress keys shared by create and update: allowOut, denyOut, rules,
 * egressProxy. */
static int parse_egress(json_t *n, json_t *into, char *msg, size_t msgsz)
{
    json_t *allow = json_object_get(n, "allowOut"), *deny = json_object_get(n, "denyOut");
    if (!string_array_ok(allow) || !string_array_ok(deny)) {
        snprintf(msg, msgsz, "Error when parsing request: allowOut and denyOut must be arrays of strings");
        return 400;
    }
    json_t *empty = json_array();
    int st = check_egress(json_is_array(allow) ? allow : empty, json_is_array(deny) ? deny : empty,
                          msg, msgsz);
    json_decref(empty);
    if (st)
        return st;
    json_t *rules = NULL;
    if ((st = check_rules(json_object_get(n, "rules"), &rules, msg, msgsz)))
        return st;
    json_t *ep = json_object_get(n, "egressProxy");
    if (ep && !json_is_null(ep)) {
        json_decref(rules);
        snprintf(msg, msgsz, "Egress proxy (network.egressProxy) is not enabled for this team.");
        return 403;
    }
    if (json_is_array(allow))
        json_object_set(into, "allowOut", allow);
    if (json_is_array(deny))
        json_object_set(into, "denyOut", deny);
    if (rules)
        json_object_set_new(into, "rules", rules);
    return 0;
}

/* maskRequestHost: host[:port], ASCII only. */
static int check_mask_host(const char *h, char *msg, size_t msgsz)
{
    for (const unsigned char *p = (const unsigned char *)h; *p; p++)
        if (*p >= 0x80) {
            snprintf(msg, msgsz, "mask request host '%s' is not ASCII. Please use ASCII characters only.", h);
            return 400;
        }
    const char *colon = strchr(h, ':');
    bool bad = false;
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        bad = !close || (close[1] && close[1] != ':');
    } else if (colon && strchr(colon + 1, ':')) {
        bad = true; /* too many colons */
    }
    for (const char *p = h; *p && !bad; p++)
        if (*p == '/' || *p == ' ' || (unsigned char)*p < 0x20)
            bad = true;
    if (bad) {
        snprintf(msg, msgsz, "mask request host is not valid: %s", h);
        return 400;
    }
    return 0;
}

int netcfg_parse_create(json_t *network, json_t **out, char *msg, size_t msgsz)
{
    *out = NULL;
    if (!network || json_is_null(network))
        return 0;
    if (!json_is_object(network)) {
        snprintf(msg, msgsz, "Error when parsing request: network must be an object");
        return 400;
    }
    json_t *pub = json_object_get(network, "allowPublicTraffic");
    json_t *mask = json_object_get(network, "maskRequestHost");
    if ((pub && !json_is_null(pub) && !json_is_boolean(pub)) ||
        (mask && !json_is_null(mask) && !json_is_string(mask))) {
        snprintf(msg, msgsz, "Error when parsing request: allowPublicTraffic must be a boolean "
                             "and maskRequestHost a string");
        return 400;
    }
    int st;
    if (json_is_string(mask) && (st = check_mask_host(json_string_value(mask), msg, msgsz)))
        return st;
    json_t *n = json_object();
    if ((st = parse_egress(network, n, msg, msgsz))) {
        json_decref(n);
        return st;
    }
    if (json_is_boolean(pub))
        json_object_set(n, "allowPublicTraffic", pub);
    if (json_is_string(mask))
        json_object_set(n, "maskRequestHost", mask);
    *out = n;
    return 0;
}

int netcfg_parse_update(json_t *body, json_t **egress, int *allow_internet, char *msg,
                        size_t msgsz)
{
    *egress = NULL;
    *allow_internet = -1;
    json_t *ai = json_object_get(body, "allow_internet_access");
    if (ai && !json_is_null(ai)) {
        if (!json_is_boolean(ai)) {
            snprintf(msg, msgsz, "Error when parsing request: allow_internet_access must be a boolean");
            return 400;
        }
        *allow_internet = json_is_true(ai);
    }
    json_t *n = json_object();
    int st = parse_egress(body, n, msg, msgsz);
    if (st) {
        json_decref(n);
        return st;
    }
    *egress = n;
    return 0;
}
