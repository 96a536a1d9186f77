"""Canned responses in every applicant language: a desk seeded before translations existed
gets them for each response it never edited (its English text still the seeded one), so a
Hindi applicant's refusal is Hindi from heading to body. Edited responses are left as the
admin wrote them; the admin page shows which languages they lack."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# The texts as this release seeds them (rules/responses.py), copied: a migration is a
# snapshot, and the data layer does not import the rules.
SEEDED = [('unlock',
  'approve',
  None,
  'Your request is approved. Sign in to the unlock tool with this account on the phone within 14 '
  'days; the permission is for this account and this model only.',
  {'hi': 'आपका अनुरोध स्वीकार कर लिया गया है। 14 दिनों के भीतर फ़ोन पर इसी खाते से अनलॉक टूल में '
         'साइन इन करें; यह अनुमति केवल इस खाते और इस मॉडल के लिए है।',
   'mr': 'तुमची विनंती मंजूर झाली आहे. 14 दिवसांच्या आत फोनवर याच खात्याने अनलॉक टूलमध्ये साइन इन '
         'करा; ही परवानगी फक्त या खात्यासाठी आणि या मॉडेलसाठी आहे.',
   'ru': 'Ваш запрос одобрен. В течение 14 дней войдите в инструмент разблокировки с этой учётной '
         'записью на телефоне; разрешение действует только для этой учётной записи и этой '
         'модели.'}),
 ('unlock',
  'reject',
  'stable_firmware',
  'The phone runs a stable build. Install a weekly (developer) build, whose version looks like a '
  'date such as 21.3.17, then appeal or apply again.',
  {'hi': 'फ़ोन पर स्टेबल बिल्ड चल रहा है। साप्ताहिक (डेवलपर) बिल्ड इंस्टॉल करें, जिसका संस्करण '
         '21.3.17 जैसी किसी तारीख़ जैसा दिखता है, फिर अपील करें या दोबारा आवेदन करें।',
   'mr': 'फोनवर स्टेबल बिल्ड चालू आहे. साप्ताहिक (डेव्हलपर) बिल्ड इंस्टॉल करा, ज्याची आवृत्ती '
         '21.3.17 सारख्या तारखेसारखी दिसते, मग अपील करा किंवा पुन्हा अर्ज करा.',
   'ru': 'На телефоне стабильная сборка. Установите еженедельную (девелоперскую) сборку, номер '
         'версии которой похож на дату, например 21.3.17, затем подайте апелляцию или новую '
         'заявку.'}),
 ('unlock',
  'reject',
  'reason_insufficient',
  'Your reason does not say why you need to unlock the bootloader. Explain in English what you '
  'will do with the unlocked phone, then appeal.',
  {'hi': 'आपके कारण में यह नहीं बताया गया है कि आपको बूटलोडर अनलॉक करने की ज़रूरत क्यों है। '
         'अंग्रेज़ी में बताइए कि अनलॉक किए गए फ़ोन से आप क्या करेंगे, फिर अपील करें।',
   'mr': 'तुमच्या कारणात बूटलोडर अनलॉक करण्याची गरज का आहे हे सांगितलेले नाही. अनलॉक केलेल्या '
         'फोनने तुम्ही काय करणार आहात ते इंग्रजीत सांगा, मग अपील करा.',
   'ru': 'В вашей причине не сказано, зачем нужно разблокировать загрузчик. Объясните '
         'по-английски, что вы будете делать с разблокированным телефоном, затем подайте '
         'апелляцию.'}),
 ('unlock',
  'reject',
  'account_too_new',
  'Accounts must be at least 30 days old to unlock a phone. Please apply again once your account '
  'is 30 days old.',
  {'hi': 'फ़ोन अनलॉक करने के लिए खाता कम से कम 30 दिन पुराना होना चाहिए। आपका खाता 30 दिन पुराना '
         'हो जाने पर कृपया दोबारा आवेदन करें।',
   'mr': 'फोन अनलॉक करण्यासाठी खाते किमान 30 दिवस जुने असणे आवश्यक आहे. तुमचे खाते 30 दिवस जुने '
         'झाल्यावर कृपया पुन्हा अर्ज करा.',
   'ru': 'Чтобы разблокировать телефон, учётной записи должно быть не меньше 30 дней. Подайте '
         'заявку снова, когда вашей учётной записи исполнится 30 дней.'}),
 ('unlock',
  'reject',
  'device_reported',
  'This phone is reported lost or stolen, so we cannot permit unlocking it. If the phone is yours, '
  'ask the shop or the network that reported it to withdraw the report, then apply again.',
  {'hi': 'यह फ़ोन खोया या चोरी हुआ बताया गया है, इसलिए हम इसे अनलॉक करने की अनुमति नहीं दे सकते। '
         'अगर फ़ोन आपका है, तो जिस दुकान या नेटवर्क ने इसकी सूचना दी है उससे सूचना वापस लेने को '
         'कहें, फिर दोबारा आवेदन करें।',
   'mr': 'हा फोन हरवल्याची किंवा चोरीला गेल्याची नोंद आहे, त्यामुळे तो अनलॉक करण्याची परवानगी '
         'आम्ही देऊ शकत नाही. फोन तुमचाच असल्यास, ज्या दुकानाने किंवा नेटवर्कने ही नोंद केली '
         'त्यांना ती मागे घेण्यास सांगा, मग पुन्हा अर्ज करा.',
   'ru': 'Этот телефон числится потерянным или украденным, поэтому мы не можем разрешить его '
         'разблокировку. Если телефон ваш, попросите магазин или оператора, сообщивших об этом, '
         'отозвать сообщение, затем подайте заявку снова.'}),
 ('unlock',
  'request_info',
  None,
  'We cannot read the purchase receipt. Please send a sharp photo of the whole receipt, with the '
  'date, the shop and the model visible.',
  {'hi': 'हम ख़रीद की रसीद नहीं पढ़ पा रहे हैं। कृपया पूरी रसीद की साफ़ फ़ोटो भेजें, जिसमें '
         'तारीख़, दुकान और मॉडल दिखाई दें।',
   'mr': 'आम्हाला खरेदीची पावती वाचता येत नाही. कृपया संपूर्ण पावतीचा स्पष्ट फोटो पाठवा, ज्यात '
         'तारीख, दुकान आणि मॉडेल दिसेल.',
   'ru': 'Мы не можем прочитать чек о покупке. Пришлите, пожалуйста, чёткое фото всего чека, на '
         'котором видны дата, магазин и модель.'}),
 ('recovery',
  'approve',
  None,
  'We have confirmed that the account is yours. Open the sign-in page, choose "Forgot password" '
  'and enter the email you gave in this application: the reset link will arrive there within the '
  'next hour.',
  {'hi': 'हमने पुष्टि कर दी है कि खाता आपका है। साइन-इन पेज खोलें, "पासवर्ड भूल गए" चुनें और इस '
         'आवेदन में दिया गया ईमेल डालें: रीसेट लिंक अगले एक घंटे के भीतर वहाँ पहुँच जाएगा।',
   'mr': 'खाते तुमचेच आहे याची आम्ही खात्री केली आहे. साइन-इन पेज उघडा, "पासवर्ड विसरलात" निवडा '
         'आणि या अर्जात दिलेला ईमेल टाका: रीसेट लिंक पुढच्या एका तासात तिथे येईल.',
   'ru': 'Мы подтвердили, что учётная запись ваша. Откройте страницу входа, выберите «Забыли '
         'пароль» и введите адрес почты, указанный в этой заявке: ссылка для сброса придёт туда в '
         'течение часа.'}),
 ('recovery',
  'reject',
  'proof_mismatch',
  'The documents you sent do not match the phone linked to this account, so we cannot confirm the '
  'account is yours.',
  {'hi': 'आपके भेजे दस्तावेज़ इस खाते से जुड़े फ़ोन से मेल नहीं खाते, इसलिए हम पुष्टि नहीं कर सकते '
         'कि खाता आपका है।',
   'mr': 'तुम्ही पाठवलेली कागदपत्रे या खात्याशी जोडलेल्या फोनशी जुळत नाहीत, त्यामुळे खाते तुमचेच '
         'आहे याची खात्री आम्ही करू शकत नाही.',
   'ru': 'Присланные вами документы не соответствуют телефону, привязанному к этой учётной записи, '
         'поэтому мы не можем подтвердить, что она ваша.'}),
 ('recovery',
  'reject',
  'proof_unreadable',
  'We cannot read the documents you sent. Please apply again with sharp photos.',
  {'hi': 'हम आपके भेजे दस्तावेज़ नहीं पढ़ पा रहे हैं। कृपया साफ़ फ़ोटो के साथ दोबारा आवेदन करें।',
   'mr': 'तुम्ही पाठवलेली कागदपत्रे आम्हाला वाचता येत नाहीत. कृपया स्पष्ट फोटोंसह पुन्हा अर्ज करा.',
   'ru': 'Мы не можем прочитать присланные документы. Подайте заявку снова с чёткими '
         'фотографиями.'}),
 ('recovery',
  'request_info',
  None,
  "Please send a photo of the phone's box showing the label with the IMEI.",
  {'hi': 'कृपया फ़ोन के डिब्बे की ऐसी फ़ोटो भेजें जिसमें IMEI वाला लेबल दिखाई दे।',
   'mr': 'कृपया फोनच्या खोक्याचा असा फोटो पाठवा ज्यात IMEI असलेले लेबल दिसेल.',
   'ru': 'Пришлите, пожалуйста, фото коробки телефона, на котором видна наклейка с IMEI.'}),
 ('appeal',
  'approve',
  None,
  'We looked again and your request is approved. Sign in to the unlock tool with this account on '
  'the phone within 14 days.',
  {'hi': 'हमने दोबारा जाँच की और आपका अनुरोध स्वीकार कर लिया गया है। 14 दिनों के भीतर फ़ोन पर इसी '
         'खाते से अनलॉक टूल में साइन इन करें।',
   'mr': 'आम्ही पुन्हा तपासले आणि तुमची विनंती मंजूर झाली आहे. 14 दिवसांच्या आत फोनवर याच खात्याने '
         'अनलॉक टूलमध्ये साइन इन करा.',
   'ru': 'Мы рассмотрели заявку повторно, и ваш запрос одобрен. В течение 14 дней войдите в '
         'инструмент разблокировки с этой учётной записью на телефоне.'}),
 ('appeal',
  'reject',
  'reason_insufficient',
  'We looked at your application again and still cannot permit unlocking this phone: the reason '
  'does not explain why unlocking is needed. This decision is final.',
  {'hi': 'हमने आपके आवेदन की दोबारा जाँच की और फिर भी इस फ़ोन को अनलॉक करने की अनुमति नहीं दे '
         'सकते: कारण में यह नहीं बताया गया है कि अनलॉक करना क्यों ज़रूरी है। यह निर्णय अंतिम है।',
   'mr': 'आम्ही तुमचा अर्ज पुन्हा तपासला आणि तरीही हा फोन अनलॉक करण्याची परवानगी देऊ शकत नाही: '
         'अनलॉक करणे का आवश्यक आहे हे कारणात सांगितलेले नाही. हा निर्णय अंतिम आहे.',
   'ru': 'Мы повторно рассмотрели вашу заявку и по-прежнему не можем разрешить разблокировку этого '
         'телефона: в причине не объяснено, зачем она нужна. Это решение окончательное.'})]

REPLACED = {'We looked again and cannot permit unlocking this phone. The reason is explained below.': 'We '
                                                                                           'looked '
                                                                                           'at '
                                                                                           'your '
                                                                                           'application '
                                                                                           'again '
                                                                                           'and '
                                                                                           'still '
                                                                                           'cannot '
                                                                                           'permit '
                                                                                           'unlocking '
                                                                                           'this '
                                                                                           'phone: '
                                                                                           'the '
                                                                                           'reason '
                                                                                           'does '
                                                                                           'not '
                                                                                           'explain '
                                                                                           'why '
                                                                                           'unlocking '
                                                                                           'is '
                                                                                           'needed. '
                                                                                           'This '
                                                                                           'decision '
                                                                                           'is '
                                                                                           'final.'}


async def add_translations(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("models.CannedResponse")
    for row in await model.all():
        body = REPLACED.get(row.body, row.body)
        seeded = next((t for k, a, r, b, t in SEEDED
                       if (k, a, r, b) == (row.kind, row.action, row.reason_code, body)), None)
        if seeded is None:
            continue
        translations = {**seeded, **(row.translations or {})}
        if (body, translations) != (row.body, row.translations):
            await model.filter(id=row.id).update(body=body, translations=translations)


class Migration(migrations.Migration):
    dependencies = [('models', '0012_busy_desk')]

    initial = False

    operations = [
        ops.RunPython(add_translations, ops.RunPython.noop),
    ]
