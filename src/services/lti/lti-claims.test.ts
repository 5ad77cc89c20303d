import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { isCourseOwner } from './lti-claims.js';
import { nextLink } from './lti-roster.service.js';
import { TicketSigner } from './lti-ticket.js';

describe('LTI helpers', () => {
  it('makes Instructors, Administrators (context, institution, system) and their sub-roles course owners, nobody else', () => {
    const m = 'http://purl.imsglobal.org/vocab/lis/v2/membership';
    expect(isCourseOwner([`${m}#Instructor`])).toBe(true);
    expect(isCourseOwner([`${m}/Instructor#TeachingAssistant`])).toBe(true);
    expect(isCourseOwner([`${m}#Administrator`])).toBe(true);
    expect(isCourseOwner(['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator'])).toBe(true);
    expect(isCourseOwner([`${m}#Learner`, `${m}#Mentor`])).toBe(false);
    expect(isCourseOwner([`${m}#Learner`, 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor'])).toBe(false);
    expect(isCourseOwner([])).toBe(false);
  });

  it('follows rel="next" of a Link header, relative or absolute, and nothing else', () => {
    expect(nextLink('<https://m.example/r?p=2>; rel="next", <https://m.example/r?p=9>; rel="last"', 'https://m.example/r')).toBe('https://m.example/r?p=2');
    expect(nextLink('</r?p=3>; rel=next', 'https://m.example/r?p=2')).toBe('https://m.example/r?p=3');
    expect(nextLink('<https://m.example/r?p=1>; rel="prev"', 'https://m.example/r')).toBeUndefined();
    expect(nextLink(null, 'https://m.example/r')).toBeUndefined();
  });

  it('opens a ticket only unaltered, unexpired and for its purpose', () => {
    const clock = new ManualClock();
    const signer = new TicketSigner('a-secret-of-sixteen+');
    const ticket = signer.sign('deep-link', { a: 1 }, clock.now() + 1000);
    expect(signer.open('deep-link', ticket, clock.now())).toEqual({ a: 1 });
    expect(signer.open('registration', ticket, clock.now())).toBeUndefined();
    expect(signer.open('deep-link', `${ticket.slice(0, -2)}xx`, clock.now())).toBeUndefined();
    const [body, mac] = ticket.split('.');
    const forged = Buffer.from(JSON.stringify({ p: 'deep-link', e: clock.now() + 1000, v: { a: 2 } })).toString('base64url');
    expect(signer.open('deep-link', `${forged}.${mac}`, clock.now())).toBeUndefined();
    expect(signer.open('deep-link', `${body}.${mac}`, clock.now() + 1000)).toBeUndefined();
    expect(new TicketSigner('another-secret-xxxx').open('deep-link', ticket, clock.now())).toBeUndefined();
    expect(signer.open('deep-link', 42, clock.now())).toBeUndefined();
  });
});
