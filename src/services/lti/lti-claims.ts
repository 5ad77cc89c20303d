/** Claim names and values of LTI 1.3 (imsglobal.org/spec/lti/v1p3, lti-dl/v2p0, lti-nrps/v2p0). */
const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';

export const CLAIM = {
  messageType: `${LTI}message_type`,
  version: `${LTI}version`,
  deploymentId: `${LTI}deployment_id`,
  targetLinkUri: `${LTI}target_link_uri`,
  resourceLink: `${LTI}resource_link`,
  context: `${LTI}context`,
  roles: `${LTI}roles`,
  custom: `${LTI}custom`,
  launchPresentation: `${LTI}launch_presentation`,
  deepLinkingSettings: 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings',
  contentItems: 'https://purl.imsglobal.org/spec/lti-dl/claim/content_items',
  deepLinkingData: 'https://purl.imsglobal.org/spec/lti-dl/claim/data',
  namesRoleService: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
} as const;

export const LTI_VERSION = '1.3.0';
export const RESOURCE_LINK_REQUEST = 'LtiResourceLinkRequest';
export const DEEP_LINKING_REQUEST = 'LtiDeepLinkingRequest';
export const DEEP_LINKING_RESPONSE = 'LtiDeepLinkingResponse';
export const NRPS_SCOPE = 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly';
export const NRPS_MEDIA_TYPE = 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json';
export const TOOL_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-tool-configuration';
export const PLATFORM_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-platform-configuration';

const MEMBERSHIP = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const INSTITUTION_ADMIN = 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator';
const SYSTEM_ADMIN = 'http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator';

/**
 * Whether the roles make a user an owner of the course: context Instructor or Administrator (also
 * their sub-roles, `…/membership/Instructor#TeachingAssistant`, and the short forms LTI 1.1 allowed),
 * or an institution/system administrator (Moodle's site admins carry those and no context role).
 */
export function isCourseOwner(roles: readonly string[]): boolean {
  return roles.some((role) => role === `${MEMBERSHIP}Instructor` || role === `${MEMBERSHIP}Administrator`
    || role.startsWith('http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#')
    || role.startsWith('http://purl.imsglobal.org/vocab/lis/v2/membership/Administrator#')
    || role === 'Instructor' || role === 'Administrator' || role === INSTITUTION_ADMIN || role === SYSTEM_ADMIN);
}
